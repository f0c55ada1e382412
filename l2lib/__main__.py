"""``python -m l2lib``: the command line of :mod:`l2lib.book.cli`."""

import sys

from l2lib.book.cli import main

if __name__ == "__main__":
    sys.exit(main())
