"""Chapter 04 (tokens) exercises: references agree with the library's tokenizer; rounded answers pass; slips named."""

import math

from bigmodel_lib.exercises import ch04_tokens
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.tokenizer import BPETokenizer

EXERCISES = [getattr(ch04_tokens, n) for n in ch04_tokens.__all__ if isinstance(getattr(ch04_tokens, n), Exercise)]


def test_every_exercise_of_the_notebook_is_listed():
    assert len(EXERCISES) == 4 and len({e.key for e in EXERCISES}) == 4


def test_utf8_bytes_and_the_named_slips():
    assert ch04_tokens.utf8_bytes.checker(20)[0]
    for wrong, word in [(11, "characters"), (17, "3 bytes"), (18, "emoji"), (24, "UTF-16")]:
        ok, feedback = ch04_tokens.utf8_bytes.checker(wrong)
        assert not ok and word in feedback, (wrong, feedback)


def test_tokens_after_merges_equal_the_library_encoding():
    # the same merges as a BPETokenizer: byte ids 0..255, then the merged tokens in rank order
    vocab = {i: bytes([i]) for i in range(256)}
    id_of = {v: k for k, v in vocab.items()}
    merges = {}
    for new_id, (left, right) in enumerate(ch04_tokens.MERGES, start=256):
        a, b = id_of[left.encode()], id_of[right.encode()]
        merges[(a, b)] = new_id
        vocab[new_id] = vocab[a] + vocab[b]
        id_of[vocab[new_id]] = new_id
    tok = BPETokenizer(vocab, merges)
    library_tokens = tok.token_strings(tok.encode(ch04_tokens.MERGE_TEXT))
    assert library_tokens == ["ban", "ana", " ", "ban", "d", "ana"]
    assert ch04_tokens.tokens_after_merges.checker(library_tokens)[0]
    assert ch04_tokens.tokens_after_merges.checker(tuple(library_tokens))[0]


def test_tokens_after_merges_slips():
    check = ch04_tokens.tokens_after_merges.checker
    ok, feedback = check(["ban", "a", "n", "a", " ", "ban", "d", "a", "n", "a"])
    assert not ok and "every occurrence" in feedback
    ok, feedback = check(list(ch04_tokens.MERGE_TEXT))
    assert not ok and "no merge" in feedback
    ok, feedback = check(["ban", "ana", "ban", "d", "ana"])
    assert not ok and "join back" in feedback
    ok, feedback = check("banana bandana")
    assert not ok and "list of str" in feedback


def test_bits_per_byte_rounded_answer_passes_and_slips_are_named():
    exact = 1.25 * 10_000 / 27_000 / math.log(2)
    assert ch04_tokens.bits_per_byte.checker(exact)[0]
    assert ch04_tokens.bits_per_byte.checker(round(exact, 3))[0]  # 0.668, to 3 significant figures
    for wrong, word in [(1.25 * 10_000 / 27_000, "nats"), (1.25 / math.log(2), "bits per token"),
                        (1.25 * 27_000 / 10_000 / math.log(2), "upside down")]:
        ok, feedback = ch04_tokens.bits_per_byte.checker(round(wrong, 3))
        assert not ok and word in feedback, (wrong, feedback)


def test_chinese_context():
    assert ch04_tokens.chinese_context.checker(616)[0]  # (2048 - 200) // 3
    for wrong, word in [(1848, "one token per character"), (924, "3 bytes"), (682, "instruction")]:
        ok, feedback = ch04_tokens.chinese_context.checker(wrong)
        assert not ok and word in feedback, (wrong, feedback)
