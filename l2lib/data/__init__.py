"""Data sets as tensors on a device: named classification sets, teacher data, jamming data.

* :mod:`l2lib.data.datasets`: digits, MNIST-type sets (IDX files), :func:`load_dataset`;
* :mod:`l2lib.data.teacher`: whitened linear-teacher data for the closed forms of chapter 1;
* :mod:`l2lib.data.jamming`: random and parity data of the jamming chapter;
* :mod:`l2lib.data.published`: the authors' published MNIST sweep, seed by seed.
"""

from l2lib.data.datasets import DATASETS, Dataset, DatasetUnavailableError, load_dataset

__all__ = ["DATASETS", "Dataset", "DatasetUnavailableError", "load_dataset"]
