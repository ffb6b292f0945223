"""Chapter 04 exercises on tokens (notebook 04.7): UTF-8 bytes, BPE merges, bits per byte, context in characters.

::

    from bigmodel_lib.exercises import ch04_tokens
    print(ch04_tokens.utf8_bytes.prompt)
    ch04_tokens.utf8_bytes.check(my_answer)

Each checker names the usual slips: characters counted instead of bytes, a merge applied once instead of
everywhere, a loss left in nats or divided the wrong way. Every prompt states the precision wanted, and
the checker accepts an answer rounded that way; a slip is named only when its value lies outside that
tolerance of the right answer.
"""

from __future__ import annotations

import math
from typing import Any

from bigmodel_lib.exercises.core import Exercise, Verdict, close_to_or_known_mistake, on_success
from bigmodel_lib.tokenizer import merge_pair, split_into_chunks

__all__ = [
    "BPB_BYTES",
    "BPB_LOSS",
    "BPB_TOKENS",
    "CONTEXT_TOKENS",
    "MERGE_TEXT",
    "MERGES",
    "PROMPT_TOKENS",
    "UTF8_STRING",
    "bits_per_byte",
    "chinese_context",
    "tokens_after_merges",
    "utf8_bytes",
]


# -- 1. UTF-8 bytes -----------------------------------------------------------------------------------------------

UTF8_STRING = "大模型 GPT-2 😀"


def _utf8_bytes() -> int:
    return len(UTF8_STRING.encode("utf-8"))


utf8_bytes = Exercise(
    key="ch04_tokens.utf8_bytes",
    prompt=(
        f"How many bytes has ch04_tokens.UTF8_STRING = {UTF8_STRING!r} in UTF-8, the bytes a byte-level BPE\n"
        "starts from? Work it out from the rules of UTF-8 (1 byte for ASCII, more for other characters), then\n"
        "check with Python. An exact int."
    ),
    checker=on_success(close_to_or_known_mistake(
        _utf8_bytes,
        {
            "that is the number of characters (len of the str), not of UTF-8 bytes": lambda: len(UTF8_STRING),
            "a Chinese character takes 3 bytes in UTF-8 (U+0800 to U+FFFF), not 2": lambda: _utf8_bytes() - 3,
            "the emoji is above U+FFFF: 4 bytes in UTF-8 (2 is its count in UTF-16 code units)":
                lambda: _utf8_bytes() - 2,
            "that is the size in UTF-16 (2 bytes per unit, the emoji 2 units), not UTF-8":
                lambda: len(UTF8_STRING.encode("utf-16-le")),
        },
        rtol=0.0, atol=0.5, what="byte count",
    ), lambda: f"{_utf8_bytes()} bytes, exactly: 3 x 3 for the Chinese characters, 7 ASCII bytes, 4 for the emoji"),
    hints=[
        "UTF-8 uses 1 byte up to U+007F, 2 up to U+07FF, 3 up to U+FFFF and 4 above.",
        "Chinese characters lie between U+4E00 and U+9FFF; emoji mostly above U+1F000.",
        "len(s.encode('utf-8')) counts them.",
    ],
    reference=_utf8_bytes,
    solution_text=f"len({UTF8_STRING!r}.encode('utf-8')) = {_utf8_bytes()}",
)


# -- 2. tokens after given merges --------------------------------------------------------------------------------

MERGE_TEXT = "banana bandana"
MERGES = [("a", "n"), ("b", "an"), ("an", "a")]  # in the order they were learned (rank 0, 1, 2)


def _tokens(merges=None, everywhere: bool = True) -> list[str]:
    """The tokens of MERGE_TEXT under ``merges`` (as strings), chunk by chunk, lowest rank first."""
    merges = MERGES if merges is None else merges
    vocab = {i: chr(i) for i in range(128)}
    ids_of = {v: k for k, v in vocab.items()}
    rank = {}
    for new_id, (left, right) in enumerate(merges, start=128):
        pair = (ids_of[left], ids_of[right])
        rank[pair] = new_id
        vocab[new_id] = left + right
        ids_of[left + right] = new_id
    tokens, all_ranks = [], rank
    for chunk in split_into_chunks(MERGE_TEXT):
        ids, rank = [ord(c) for c in chunk], dict(all_ranks)
        while len(ids) >= 2:
            present = [p for p in zip(ids, ids[1:]) if p in rank]
            if not present:
                break
            pair = min(present, key=rank.get)
            if everywhere:
                ids = merge_pair(ids, pair, rank[pair])
            else:  # the slip: only the first occurrence
                i = list(zip(ids, ids[1:])).index(pair)
                ids = ids[:i] + [rank[pair]] + ids[i + 2:]
                rank = {p: r for p, r in rank.items() if p != pair}
        tokens += [vocab[i] for i in ids]
    return tokens


def _check_tokens(answer: Any) -> Verdict:
    if isinstance(answer, str) or not all(isinstance(t, str) for t in answer):
        return False, "give the tokens as a list of str, e.g. ['b', 'an', ...]"
    answer = list(answer)
    if answer == _tokens():
        return True, (f"the {len(answer)} tokens are right: merges apply inside each chunk, lowest rank first, to "
                      "every occurrence")
    if "".join(answer) != MERGE_TEXT:
        return False, f"the tokens must join back to {MERGE_TEXT!r}; yours join to {''.join(answer)!r}"
    if answer == _tokens(everywhere=False):
        return False, "a merge replaces every occurrence of its pair in the chunk, not only the first"
    if answer == list(MERGE_TEXT):
        return False, "no merge was applied: start from the characters and apply MERGES in order"
    return False, f"not these tokens: {answer!r}"


tokens_after_merges = Exercise(
    key="ch04_tokens.tokens_after_merges",
    prompt=(
        f"A BPE tokenizer learned the merges ch04_tokens.MERGES = {MERGES} (rank 0, 1, 2).\n"
        f"Encode ch04_tokens.MERGE_TEXT = {MERGE_TEXT!r} by hand: split it into chunks as GPT-2 does (a word keeps\n"
        "the space before it), then in each chunk repeatedly merge the pair of the lowest rank present, everywhere\n"
        "it occurs. Give the tokens as a list of str, exactly."
    ),
    checker=_check_tokens,
    hints=[
        "The chunks are 'banana' and ' bandana'. No merge involves the space.",
        "In 'banana': ('a', 'n') first, everywhere; then look again for the lowest-rank pair present.",
        "Check with the library: build a BPETokenizer from these merges, or apply merge_pair by hand.",
    ],
    reference=_tokens,
    solution_text=f"{_tokens()} ({len(_tokens())} tokens)",
)


# -- 3. bits per byte --------------------------------------------------------------------------------------------

BPB_LOSS, BPB_TOKENS, BPB_BYTES = 1.25, 10_000, 27_000  # nats per token, validation tokens, validation bytes


def _bpb(log_base: float = math.log(2), ratio: float = BPB_TOKENS / BPB_BYTES) -> float:
    return BPB_LOSS * ratio / log_base


bits_per_byte = Exercise(
    key="ch04_tokens.bits_per_byte",
    prompt=(
        f"A model's validation loss is ch04_tokens.BPB_LOSS = {BPB_LOSS} nats per token, on a validation text of\n"
        f"BPB_TOKENS = {BPB_TOKENS:,} tokens and BPB_BYTES = {BPB_BYTES:,} UTF-8 bytes. What is it in bits per byte,\n"
        "the measure that does not depend on the tokenizer? To 3 significant figures."
    ),
    checker=on_success(close_to_or_known_mistake(
        _bpb,
        {
            "still in nats: divide by ln 2 to get bits": lambda: _bpb(log_base=1.0),
            "that is bits per token: multiply by the tokens and divide by the bytes": lambda: _bpb(ratio=1.0),
            "the ratio is upside down: total bits = loss x tokens, then divide by the bytes":
                lambda: _bpb(ratio=BPB_BYTES / BPB_TOKENS),
        },
        rtol=1e-3, atol=0.0, what="bits per byte",
    ), lambda: f"{_bpb():.4f} bits per byte (to within 0.1 %): loss x tokens / bytes / ln 2"),
    hints=[
        "The total information is loss x tokens nats; spread it over the bytes.",
        "One bit is ln 2 = 0.693 nats.",
    ],
    reference=_bpb,
    solution_text=f"{BPB_LOSS} x {BPB_TOKENS} / {BPB_BYTES} / ln 2 = {_bpb():.4f}",
)


# -- 4. a context window in Chinese characters -------------------------------------------------------------------

CONTEXT_TOKENS, PROMPT_TOKENS = 2048, 200  # the context; an English instruction placed before the Chinese text


def _characters(bytes_per_character: int = 3, prompt: int = PROMPT_TOKENS) -> int:
    return (CONTEXT_TOKENS - prompt) // bytes_per_character


chinese_context = Exercise(
    key="ch04_tokens.chinese_context",
    prompt=(
        f"A model has a context of ch04_tokens.CONTEXT_TOKENS = {CONTEXT_TOKENS} tokens. An English instruction of\n"
        f"PROMPT_TOKENS = {PROMPT_TOKENS} tokens comes first; the rest is for a Chinese document. The model's\n"
        "byte-level BPE learned no merge inside Chinese characters (it was trained on English text), so each Chinese\n"
        "character costs one token per UTF-8 byte. How many Chinese characters of the document fit?\n"
        "An exact int (whole characters)."
    ),
    checker=on_success(close_to_or_known_mistake(
        _characters,
        {
            "one token per character would be true only if merges had joined each character's bytes; here they "
            "did not": lambda: _characters(bytes_per_character=1),
            "a Chinese character takes 3 bytes in UTF-8, not 2": lambda: _characters(bytes_per_character=2),
            "the instruction's tokens take part of the context too": lambda: _characters(prompt=0),
        },
        rtol=0.0, atol=0.5, what="number of characters",
    ), lambda: (f"{_characters()} characters, exactly: ({CONTEXT_TOKENS} - {PROMPT_TOKENS}) tokens // 3 tokens "
                "per character")),
    hints=["Common Chinese characters take 3 bytes each in UTF-8.", "Only whole characters count: round down."],
    reference=_characters,
    solution_text=f"({CONTEXT_TOKENS} - {PROMPT_TOKENS}) // 3 = {_characters()}",
)
