"""The date-translation data: every format parses back to its ISO date, splits are disjoint and reproducible."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from bigmodel_lib.data import dates as D

EDGE_DATES = [
    dt.date(1900, 1, 1), dt.date(2099, 12, 31), dt.date(2000, 2, 29), dt.date(1969, 1, 1), dt.date(2068, 12, 31),
    dt.date(1998, 3, 3), dt.date(2011, 11, 11), dt.date(2012, 12, 12), dt.date(2013, 1, 13), dt.date(1921, 5, 21),
    dt.date(1922, 6, 22), dt.date(1923, 7, 23), dt.date(1931, 10, 31), dt.date(2008, 8, 8), dt.date(2020, 10, 20),
]

# -- an independent parser: strptime for the Latin formats, a small reader for Chinese numerals ---------------

STRPTIME = {
    "D Month YYYY": "%d %B %Y", "DD Mon YYYY": "%d %b %Y", "Month D, YYYY": "%B %d, %Y", "Mon D, YY": "%b %d, %y",
    "Month Dth, YYYY": "%B %d, %Y", "Dth of Month YYYY": "%d of %B %Y", "MONTH D, YYYY": "%B %d, %Y",
    "D-mon-YY": "%d-%b-%y", "DD/MM/YYYY": "%d/%m/%Y", "D.M.YYYY": "%d.%m.%Y", "DD.MM.YY": "%d.%m.%y",
    "YYYY/M/D": "%Y/%m/%d", "YYYYMMDD": "%Y%m%d", "YYYY-MM-DD": "%Y-%m-%d", "Weekday, D Month YYYY": "%A, %d %B %Y",
    "Wkd, Mon D, YYYY": "%a, %b %d, %Y",
}
ZH_DIGIT = {c: i for i, c in enumerate("〇一二三四五六七八九")}
ZH_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6}


def _zh_small_number(text: str) -> int:
    """三 -> 3, 十 -> 10, 十二 -> 12, 二十 -> 20, 三十一 -> 31."""
    if "十" not in text:
        return ZH_DIGIT[text]
    tens, _, ones = text.partition("十")
    return (ZH_DIGIT[tens] if tens else 1) * 10 + (ZH_DIGIT[ones] if ones else 0)


def parse(source: str, fmt: str) -> dt.date:
    if fmt in STRPTIME:
        text = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", source) if "th" in fmt else source
        parsed = dt.datetime.strptime(text, STRPTIME[fmt]).date()
        if "Weekday" in fmt or "Wkd" in fmt:  # strptime does not check a weekday against the date
            assert source.split(",")[0] == parsed.strftime("%A" if "Weekday" in fmt else "%a")
        if "Dth" in fmt:
            assert re.search(r"\d+(st|nd|rd|th)", source).group(0) == _english_ordinal(parsed.day)
        return parsed
    if fmt == "中文年月日":
        year, month, day = re.fullmatch(r"(.{4})年(.+)月(.+)日", source).groups()
        return dt.date(int("".join(str(ZH_DIGIT[c]) for c in year)), _zh_small_number(month), _zh_small_number(day))
    match = re.fullmatch(r"(\d{4})年(\d{1,2})月(\d{1,2})日(?:星期(.))?", source)
    parsed = dt.date(*(int(g) for g in match.groups()[:3]))
    if fmt == "YYYY年M月D日星期X":
        assert ZH_WEEKDAY[match.group(4)] == parsed.weekday()
    return parsed


def _english_ordinal(n: int) -> str:
    return f"{n}{'th' if 11 <= n <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


# -- formats -----------------------------------------------------------------------------------------------------


def test_the_seed_examples_are_written_as_promised():
    d = dt.date(1998, 3, 3)
    written = {name: D.format_date(d, name) for name in D.FORMATS}
    assert written["D Month YYYY"] == "3 March 1998"
    assert written["Mon D, YY"] == "Mar 3, 98"
    assert written["DD/MM/YYYY"] == "03/03/1998"
    assert written["D.M.YYYY"] == "3.3.1998"
    assert written["Month Dth, YYYY"] == "March 3rd, 1998"
    assert written["YYYY年M月D日"] == "1998年3月3日"
    assert written["中文年月日"] == "一九九八年三月三日"
    assert written["Weekday, D Month YYYY"] == "Tuesday, 3 March 1998"  # 3 March 1998 was a Tuesday
    assert written["YYYY年M月D日星期X"] == "1998年3月3日星期二"
    assert D.format_date(dt.date(2008, 12, 31), "中文年月日") == "二〇〇八年十二月三十一日"


@pytest.mark.parametrize("fmt", list(D.FORMATS))
def test_every_format_parses_back_to_the_right_iso_date(fmt):
    rng = np.random.default_rng(list(D.FORMATS).index(fmt))
    two_digit = D.FORMATS[fmt][1]
    first, last = (dt.date(1969, 1, 1), dt.date(2068, 12, 31)) if two_digit else (D.FIRST_DATE, D.LAST_DATE)
    offsets = rng.integers(0, (last - first).days + 1, size=300)
    dates = [first + dt.timedelta(days=int(o)) for o in offsets] + [
        d for d in EDGE_DATES if not two_digit or 1969 <= d.year <= 2068
    ]
    for d in dates:
        source = D.format_date(d, fmt)
        assert parse(source, fmt) == d, (fmt, source, d)


def test_no_source_string_stands_for_two_dates_and_every_character_is_in_the_vocabulary():
    """Over the whole date range and all formats: the task is a function (never ambiguous)."""
    vocab = D.source_vocab()
    seen: dict[str, dt.date] = {}
    chars: set[str] = set()
    for offset in range((D.LAST_DATE - D.FIRST_DATE).days + 1):
        d = D.FIRST_DATE + dt.timedelta(days=offset)
        for formatter, two_digit in D.FORMATS.values():
            if two_digit and not 1969 <= d.year <= 2068:
                continue
            source = formatter(d)
            assert seen.setdefault(source, d) == d, f"{source!r} would mean {seen[source]} and {d}"
            chars.update(source)
    assert all(c in vocab for c in chars), sorted(c for c in chars if c not in vocab)


def test_two_digit_years_follow_the_python_pivot_and_are_refused_outside_it():
    assert D.format_date(dt.date(1969, 7, 20), "DD.MM.YY") == "20.07.69"
    assert D.format_date(dt.date(2068, 1, 2), "Mon D, YY") == "Jan 2, 68"
    assert dt.datetime.strptime("20.07.69", "%d.%m.%y").year == 1969
    assert dt.datetime.strptime("02.01.68", "%d.%m.%y").year == 2068
    for d in (dt.date(1968, 12, 31), dt.date(2069, 1, 1)):
        with pytest.raises(ValueError, match=r"two-digit year, which stands for 1969-2068; got"):
            D.format_date(d, "DD.MM.YY")


def test_chinese_numbers():
    assert [D.chinese_number(n) for n in (1, 9, 10, 11, 19, 20, 21, 30, 31)] == [
        "一", "九", "十", "十一", "十九", "二十", "二十一", "三十", "三十一"]
    assert D.chinese_year(2000) == "二〇〇〇" and D.chinese_year(1905) == "一九〇五"
    with pytest.raises(ValueError, match=r"'n' must be in \[1, 99\], got 0"):
        D.chinese_number(0)


# -- the split ------------------------------------------------------------------------------------------------------


def test_split_is_reproducible_disjoint_by_date_and_uses_every_format():
    train, test = D.make_date_splits(3000, 500, seed=0)
    again_train, again_test = D.make_date_splits(3000, 500, seed=0)
    assert train == again_train and test == again_test
    other_train, _ = D.make_date_splits(3000, 500, seed=1)
    assert [e.source for e in other_train] != [e.source for e in train]
    assert len(train) == 3000 and len(test) == 500
    train_dates, test_dates = {e.date for e in train}, {e.date for e in test}
    assert len(train_dates) == 3000 and len(test_dates) == 500  # no date twice
    assert not train_dates & test_dates  # and none in both
    assert {e.format for e in train} == set(D.FORMATS)
    for e in train + test:
        assert e.target == e.date.isoformat() and e.source == D.format_date(e.date, e.format)
        assert D.FIRST_DATE <= e.date <= D.LAST_DATE
        assert not D.FORMATS[e.format][1] or 1969 <= e.date.year <= 2068


def test_split_with_a_subset_of_formats_and_bad_arguments():
    train, test = D.make_date_splits(50, 10, seed=3, formats=["中文年月日", "DD.MM.YY"])
    assert {e.format for e in train + test} <= {"中文年月日", "DD.MM.YY"}
    with pytest.raises(ValueError, match=r"unknown: \['MM/DD/YYYY'\]"):
        D.make_date_splits(10, 10, formats=["MM/DD/YYYY"])
    with pytest.raises(ValueError, match="exceeds the 73049 distinct dates"):
        D.make_date_splits(73_000, 100)
    with pytest.raises(ValueError, match="'n_test' must be a non-negative int, got -1"):
        D.make_date_splits(10, -1)
    with pytest.raises(ValueError, match="only two-digit-year formats were chosen"):
        D.make_date_splits(10, 10, formats=["DD.MM.YY"])


# -- vocabularies and batches ---------------------------------------------------------------------------------------


def test_vocab_round_trip_specials_and_unknowns():
    vocab = D.target_vocab()
    assert len(vocab) == 4 + 11
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3)
    ids = vocab.encode("1998-03-03", bos=True, eos=True)
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id and len(ids) == 12
    assert vocab.decode(ids) == "1998-03-03"
    assert vocab.decode(ids + [5, 6]) == "1998-03-03"  # stops at <eos>
    assert vocab.encode("x") == [vocab.unk_id] and vocab.decode([vocab.unk_id]) == "<unk>"
    assert vocab.tokens(ids[:2]) == ["<bos>", "1"]
    with pytest.raises(ValueError, match="single characters"):
        D.Vocab(["ab"])


def test_encode_examples_builds_teacher_forcing_arrays():
    train, _ = D.make_date_splits(6, 0, seed=2)
    src_vocab, tgt_vocab = D.source_vocab(), D.target_vocab()
    batch = D.encode_examples(train, src_vocab, tgt_vocab)
    longest = max(len(e.source) for e in train)
    assert batch["src"].shape == batch["src_mask"].shape == (6, longest)
    assert batch["src"].dtype == np.int64 and batch["src_mask"].dtype == bool
    assert batch["tgt_in"].shape == batch["tgt_out"].shape == (6, 11)
    np.testing.assert_array_equal(batch["tgt_in"][:, 0], tgt_vocab.bos_id)
    np.testing.assert_array_equal(batch["tgt_out"][:, -1], tgt_vocab.eos_id)
    np.testing.assert_array_equal(batch["tgt_in"][:, 1:], batch["tgt_out"][:, :-1])  # shifted by one
    for row, e in enumerate(train):
        assert batch["src_mask"][row].sum() == len(e.source)
        assert src_vocab.decode(batch["src"][row]) == e.source
        assert tgt_vocab.decode(batch["tgt_out"][row]) == e.target
    ids, mask = D.pad_batch([[5], [6, 7, 8]], pad_id=0)
    np.testing.assert_array_equal(ids, [[5, 0, 0], [6, 7, 8]])
    np.testing.assert_array_equal(mask, [[True, False, False], [True, True, True]])
    with pytest.raises(ValueError, match="'sequences' is empty"):
        D.pad_batch([])
