"""Offline datasets: generated here or shipped inside an installed package (no downloads)."""

from bigmodel_lib.data.digits import DigitsSplit, iterate_minibatches, load_digits_split, random_shift  # noqa: F401
