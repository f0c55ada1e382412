"""l2lib: the tested library behind the L2 phase-transition companion book."""

__version__ = "0.1.0"
