"""One module of figure functions per chapter (``figures.onset`` … ``figures.jamming``); the
shared style and small helpers are in :mod:`l2lib.book.plots`."""
