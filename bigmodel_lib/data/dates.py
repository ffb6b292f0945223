"""A generated translation task: human-written dates -> ISO 8601, character by character.

    "3 March 1998", "Mar 3, 98", "03/03/1998", "3.3.1998", "March 3rd, 1998",
    "Tuesday, 3 March 1998", "1998年3月3日", "一九九八年三月三日" ...  ->  "1998-03-03"

Small enough to train a sequence-to-sequence model on a laptop CPU in minutes, and hard enough that
attention helps: the year comes last in most sources and first in the target, so the decoder has to
look back at the right characters (and a learned alignment is easy to read off).

Conventions, so that every source determines its target:

* **Numeric day/month order is day first** (``DD/MM/YYYY``, ``D.M.YYYY``, ``DD.MM.YY``, as in most
  of Europe). A month-first numeric format (US ``MM/DD/YYYY``) is never generated: "03/04/1998"
  would then have two readings. Year-first numeric formats (``YYYY/M/D``, ``YYYYMMDD``) are
  unambiguous because the year has four digits.
* **Two-digit years** follow POSIX and Python's ``%y``: ``69``-``99`` mean 1969-1999 and ``00``-``68``
  mean 2000-2068. Two-digit formats are only used for dates in 1969-2068, so the century is always
  recoverable; other dates get four-digit formats. Dates span 1900-01-01 to 2099-12-31.
* **Chinese numerals**: the year digit by digit with 〇 for zero (一九九八, 二〇〇八), month and
  day as numbers (三, 十二, 二十一, 三十一); weekdays 星期一 ... 星期六, 星期日.
* Weekdays are the true weekday of the date (the model may ignore them, but they are never wrong).

The split is by **date**: a test date never occurs in training, in any format.

    train, test = make_date_splits(20_000, 2_000, seed=0)
    src_vocab, tgt_vocab = source_vocab(), target_vocab()
    batch = encode_examples(train[:64], src_vocab, tgt_vocab)   # src, src_mask, tgt_in, tgt_out
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FIRST_DATE",
    "FORMATS",
    "LAST_DATE",
    "TWO_DIGIT_YEAR_RANGE",
    "DateExample",
    "Vocab",
    "all_format_names",
    "chinese_number",
    "chinese_year",
    "encode_examples",
    "format_date",
    "make_date_splits",
    "pad_batch",
    "source_vocab",
    "target_vocab",
]

FIRST_DATE = dt.date(1900, 1, 1)
LAST_DATE = dt.date(2099, 12, 31)
#: Years a two-digit year can stand for (Python's ``%y`` pivot), inclusive.
TWO_DIGIT_YEAR_RANGE = (1969, 2068)

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ZH_DIGITS = "〇一二三四五六七八九"
ZH_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


# -- numbers in words ---------------------------------------------------------------------------------


def ordinal(n: int) -> str:
    """``1st 2nd 3rd 4th ... 11th 12th 13th ... 21st 22nd 23rd ... 31st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def chinese_number(n: int) -> str:
    """1..99 in Chinese numerals: 三, 十, 十二, 二十, 二十一, 三十一."""
    if not 1 <= n <= 99:
        raise ValueError(f"chinese_number: 'n' must be in [1, 99], got {n}")
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else ZH_DIGITS[tens] + "十")
    return head + (ZH_DIGITS[ones] if ones else "")


def chinese_year(year: int) -> str:
    """A year read digit by digit: 1998 -> 一九九八, 2008 -> 二〇〇八."""
    return "".join(ZH_DIGITS[int(d)] for d in f"{year:04d}")


# -- the formats ------------------------------------------------------------------------------------------


def _mon(d: dt.date) -> str:
    return MONTHS[d.month - 1][:3]


def _yy(d: dt.date) -> str:
    return f"{d.year % 100:02d}"


#: name -> (formatter, uses a two-digit year). Examples are for 1998-03-03 (a Tuesday).
FORMATS: dict[str, tuple[Callable[[dt.date], str], bool]] = {
    "D Month YYYY": (lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}", False),  # 3 March 1998
    "DD Mon YYYY": (lambda d: f"{d.day:02d} {_mon(d)} {d.year}", False),  # 03 Mar 1998
    "Month D, YYYY": (lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}", False),  # March 3, 1998
    "Mon D, YY": (lambda d: f"{_mon(d)} {d.day}, {_yy(d)}", True),  # Mar 3, 98
    "Month Dth, YYYY": (lambda d: f"{MONTHS[d.month - 1]} {ordinal(d.day)}, {d.year}", False),  # March 3rd, 1998
    "Dth of Month YYYY": (lambda d: f"{ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}", False),  # 3rd of March 1998
    "MONTH D, YYYY": (lambda d: f"{MONTHS[d.month - 1].upper()} {d.day}, {d.year}", False),  # MARCH 3, 1998
    "D-mon-YY": (lambda d: f"{d.day}-{_mon(d).lower()}-{_yy(d)}", True),  # 3-mar-98
    "DD/MM/YYYY": (lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}", False),  # 03/03/1998
    "D.M.YYYY": (lambda d: f"{d.day}.{d.month}.{d.year}", False),  # 3.3.1998
    "DD.MM.YY": (lambda d: f"{d.day:02d}.{d.month:02d}.{_yy(d)}", True),  # 03.03.98
    "YYYY/M/D": (lambda d: f"{d.year}/{d.month}/{d.day}", False),  # 1998/3/3
    "YYYYMMDD": (lambda d: f"{d.year}{d.month:02d}{d.day:02d}", False),  # 19980303
    "YYYY-MM-DD": (lambda d: d.isoformat(), False),  # 1998-03-03 (already ISO: copy it)
    "Weekday, D Month YYYY": (
        lambda d: f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}", False),  # Tuesday, 3 March 1998
    "Wkd, Mon D, YYYY": (
        lambda d: f"{WEEKDAYS[d.weekday()][:3]}, {_mon(d)} {d.day}, {d.year}", False),  # Tue, Mar 3, 1998
    "YYYY年M月D日": (lambda d: f"{d.year}年{d.month}月{d.day}日", False),  # 1998年3月3日
    "中文年月日": (  # 一九九八年三月三日
        lambda d: f"{chinese_year(d.year)}年{chinese_number(d.month)}月{chinese_number(d.day)}日", False),
    "YYYY年M月D日星期X": (
        lambda d: f"{d.year}年{d.month}月{d.day}日{ZH_WEEKDAYS[d.weekday()]}", False),  # 1998年3月3日星期二
}


def all_format_names() -> list[str]:
    return list(FORMATS)


def _allows_two_digit_year(d: dt.date) -> bool:
    return TWO_DIGIT_YEAR_RANGE[0] <= d.year <= TWO_DIGIT_YEAR_RANGE[1]


def format_date(d: dt.date, name: str) -> str:
    """``d`` written in format ``name`` (a key of :data:`FORMATS`).

    A two-digit-year format refuses dates outside 1969-2068, whose century it could not convey.
    """
    if name not in FORMATS:
        raise ValueError(f"format_date: unknown format {name!r}; known formats: {all_format_names()}")
    formatter, two_digit = FORMATS[name]
    if two_digit and not _allows_two_digit_year(d):
        raise ValueError(f"format_date: format {name!r} writes a two-digit year, which stands for "
                         f"{TWO_DIGIT_YEAR_RANGE[0]}-{TWO_DIGIT_YEAR_RANGE[1]}; got {d.isoformat()}")
    return formatter(d)


# -- examples and the split ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateExample:
    """One pair: ``source`` (human format) -> ``target`` (ISO), with the date and the format's name."""

    source: str
    target: str
    date: dt.date
    format: str


def make_date_splits(
    n_train: int,
    n_test: int,
    *,
    seed: int = 0,
    formats: Sequence[str] | None = None,
    first: dt.date = FIRST_DATE,
    last: dt.date = LAST_DATE,
) -> tuple[list[DateExample], list[DateExample]]:
    """``n_train`` training and ``n_test`` test examples on **distinct dates** (no date in both).

    Dates are drawn without replacement from ``[first, last]``, each written in a format drawn
    uniformly from ``formats`` (default: all) among those that can express it (two-digit years only in
    1969-2068). The same ``seed`` gives the same lists.
    """
    names = list(FORMATS) if formats is None else list(formats)
    unknown = [n for n in names if n not in FORMATS]
    if not names or unknown:
        raise ValueError(f"make_date_splits: 'formats' must be a non-empty list of known formats, unknown: {unknown}")
    four_digit = [n for n in names if not FORMATS[n][1]]
    if not four_digit and (first.year < TWO_DIGIT_YEAR_RANGE[0] or last.year > TWO_DIGIT_YEAR_RANGE[1]):
        raise ValueError("make_date_splits: only two-digit-year formats were chosen, so 'first' and 'last' must lie "
                         f"in {TWO_DIGIT_YEAR_RANGE[0]}-{TWO_DIGIT_YEAR_RANGE[1]}, got {first.year}-{last.year}")
    n_days = (last - first).days + 1
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"make_date_splits: '{name}' must be a non-negative int, got {value!r}")
    if n_train + n_test > n_days:
        raise ValueError(f"make_date_splits: n_train + n_test = {n_train + n_test} exceeds the {n_days} distinct "
                         f"dates in {first.isoformat()}..{last.isoformat()}")
    rng = np.random.default_rng(seed)
    offsets = rng.choice(n_days, size=n_train + n_test, replace=False)
    examples = []
    for offset in offsets:
        d = first + dt.timedelta(days=int(offset))
        usable = names if _allows_two_digit_year(d) else four_digit
        name = usable[int(rng.integers(len(usable)))]
        examples.append(DateExample(format_date(d, name), d.isoformat(), d, name))
    return examples[n_test:], examples[:n_test]


# -- vocabularies and batches --------------------------------------------------------------------------------


class Vocab:
    """Characters <-> ids, with four special tokens: ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3.

    ``encode("1998")`` gives a list of ids (unknown characters -> ``unk_id``); ``decode(ids)`` stops at
    the first ``<eos>`` and drops ``<pad>``/``<bos>``.
    """

    PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"

    def __init__(self, characters: Iterable[str]) -> None:
        chars = sorted(set(characters))
        bad = [c for c in chars if len(c) != 1]
        if bad:
            raise ValueError(f"Vocab: expected single characters, got {bad[:5]}")
        self.itos: list[str] = [self.PAD, self.BOS, self.EOS, self.UNK, *chars]
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, char: str) -> bool:
        return char in self.stoi and self.stoi[char] > self.unk_id

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.stoi.get(c, self.unk_id) for c in text]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            out.append(self.itos[i] if 0 <= i < len(self.itos) else self.UNK)
        return "".join(out)

    def tokens(self, ids: Iterable[int]) -> list[str]:
        """Every id as its character or special name (nothing dropped): labels for plots."""
        return [self.itos[int(i)] for i in ids]

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: 4 special + {len(self) - 4} characters)"


def source_vocab() -> Vocab:
    """Every character any format can write (built from the formats, not from data: no ``<unk>`` ever)."""
    chars: set[str] = set("0123456789 ,./-年月日星期")
    chars |= set("".join(MONTHS)) | set("".join(MONTHS).upper()) | set("".join(MONTHS).lower())
    chars |= set("".join(WEEKDAYS)) | set(ZH_DIGITS) | set("十") | set("".join(ZH_WEEKDAYS))
    chars |= set("stndrdthof")  # ordinals and "of"
    return Vocab(chars)


def target_vocab() -> Vocab:
    """The ten digits and ``-``."""
    return Vocab("0123456789-")


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id lists to ``(B, L_max)`` int64; also return the mask ``(B, L_max)`` (True = real token)."""
    if not sequences:
        raise ValueError("pad_batch: 'sequences' is empty")
    longest = max(len(s) for s in sequences)
    ids = np.full((len(sequences), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), longest), dtype=bool)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = True
    return ids, mask


def encode_examples(examples: Sequence[DateExample], src_vocab: Vocab, tgt_vocab: Vocab) -> dict[str, np.ndarray]:
    """Arrays for teacher forcing: ``src (B, S)``, ``src_mask (B, S)`` (True = real character),
    ``tgt_in = [<bos>, y_1 .. y_n]`` and ``tgt_out = [y_1 .. y_n, <eos>]`` (both ``(B, n + 1)``,
    padded with ``<pad>`` if targets differ in length)."""
    src, src_mask = pad_batch([src_vocab.encode(e.source) for e in examples], src_vocab.pad_id)
    tgt_in, _ = pad_batch([tgt_vocab.encode(e.target, bos=True) for e in examples], tgt_vocab.pad_id)
    tgt_out, _ = pad_batch([tgt_vocab.encode(e.target, eos=True) for e in examples], tgt_vocab.pad_id)
    return {"src": src, "src_mask": src_mask, "tgt_in": tgt_in, "tgt_out": tgt_out}
