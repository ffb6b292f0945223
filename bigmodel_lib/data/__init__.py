"""Offline datasets: generated here or shipped inside an installed package (no downloads)."""

from bigmodel_lib.data.dates import (
    FORMATS,
    DateExample,
    Vocab,
    encode_examples,
    format_date,
    make_date_splits,
    pad_batch,
    source_vocab,
    target_vocab,
)
from bigmodel_lib.data.digits import DigitsSplit, iterate_minibatches, load_digits_split, random_shift
from bigmodel_lib.data.memory_task import MemoryTask, make_memory_batch

__all__ = [
    "FORMATS", "DateExample", "DigitsSplit", "MemoryTask", "Vocab", "encode_examples", "format_date",
    "iterate_minibatches", "load_digits_split", "make_date_splits", "make_memory_batch", "pad_batch",
    "random_shift", "source_vocab", "target_vocab",
]
