"""Byte-level BPE (byte-pair encoding), the tokenizer family of GPT-2, GPT-3/4, Llama 3 and most models since.

Text becomes token ids in three steps:

1. **bytes**: the text is encoded as UTF-8, so every string -- English, Chinese, emoji, control
   characters -- is a sequence of the 256 byte values. Nothing is ever "unknown".
2. **chunks**: a regular expression (:data:`GPT2_SPLIT_PATTERN`, GPT-2's) cuts the text into pieces
   -- a word with the space before it, a run of digits, a run of punctuation, whitespace -- and merges
   never cross a chunk boundary. Without this, frequent pairs such as ``"e" + " "`` or ``"." + " T"``
   would become tokens that glue the end of one word to the start of the next.
3. **merges**: training starts from the 256 byte tokens and repeatedly merges the most frequent
   adjacent pair of tokens into a new token, until the vocabulary has ``vocab_size`` tokens. Encoding
   applies the learned merges to each chunk in the order they were learned (lowest rank first).

Training counts the pairs once, then updates the counts **incrementally**: a merge only changes the
chunks ("words") that contain the merged pair, so only their pairs are recounted. A heap of
``(-count, pair)`` entries (stale entries are skipped when popped) finds the most frequent pair without
scanning all pairs. Ties go to the smallest pair ``(a, b)``, so training is deterministic.

About the pattern. GPT-2 writes it with Unicode classes (``\\p{L}`` letters, ``\\p{N}`` numbers) that
Python's ``re`` lacks (the third-party ``regex`` module has them; the course does not depend on it).
Here ``[^\\W\\d_]`` stands for a letter (a word character that is neither a decimal digit nor ``_``) and
``\\d`` for a number. The two differ from GPT-2's only on rare characters (numerals such as ``½`` or
``Ⅻ`` count as letters here, as numbers in GPT-2); the round trip ``decode(encode(s)) == s`` is exact
for every string either way, because the chunks always join back to the text.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GPT2_SPLIT_PATTERN", "BPETokenizer", "bytes_to_unicode", "merge_pair", "split_into_chunks"]

#: GPT-2's pre-tokenization pattern, with ``\p{L}`` written ``[^\W\d_]`` and ``\p{N}`` written ``\d``.
GPT2_SPLIT_PATTERN = (
    r"'s|'t|'re|'ve|'m|'ll|'d"      # English contractions, as their own chunks
    r"| ?[^\W\d_]+"                 # a word (letters), with the space before it
    r"| ?\d+"                       # a number, with the space before it
    r"| ?(?:[^\s\w]|_)+"            # punctuation and symbols (anything neither space, letter nor digit)
    r"|\s+(?!\S)"                   # whitespace, leaving the last space to the word that follows
    r"|\s+"                         # whatever whitespace is left (e.g. at the end of the text)
)
_SPLIT = re.compile(GPT2_SPLIT_PATTERN)

_FORMAT = "bigmodel_lib.BPETokenizer"


def split_into_chunks(text: str) -> list[str]:
    """The chunks of ``text`` under :data:`GPT2_SPLIT_PATTERN`; ``"".join(chunks) == text`` always."""
    return _SPLIT.findall(text)


def merge_pair(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """``ids`` with every occurrence of ``pair`` (left to right, not overlapping) replaced by ``new_id``."""
    out, i, n = [], 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 byte values to printable characters, used in its ``vocab.json``/``merges.txt``.

    Printable Latin-1 bytes map to themselves; the others (space, control bytes ...) to ``chr(256 + k)``,
    so the space byte 32 becomes ``"Ġ"`` and newline 10 becomes ``"Ċ"``.
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    mapping, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            mapping[byte] = chr(byte)
        else:
            mapping[byte] = chr(256 + extra)
            extra += 1
    return mapping


def _check_text(text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"BPETokenizer.{where}: 'text' must be a str, got {type(text).__name__}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate such as "\ud800" has no UTF-8 form
        raise ValueError(f"BPETokenizer.{where}: the text is not valid Unicode ({error.reason} at position "
                         f"{error.start}: {text[error.start:error.end]!r})") from None


@dataclass
class BPETokenizer:
    """A byte-level BPE tokenizer: ``vocab`` (id -> bytes), ``merges`` (pair of ids -> new id, in rank order).

    Build one with :meth:`train`, :meth:`load` or :meth:`from_gpt2_files`. ``special_tokens`` (name -> id,
    e.g. GPT-2's ``<|endoftext|>``) are decoded but never produced by :meth:`encode`.
    """

    vocab: dict[int, bytes]
    merges: dict[tuple[int, int], int]
    special_tokens: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        token_to_id = {token: i for i, token in self.vocab.items()}
        missing = [b for b in range(256) if bytes([b]) not in token_to_id]
        if missing:
            raise ValueError(f"BPETokenizer: the vocabulary lacks the single-byte tokens {missing[:8]} ...; "
                             "every byte needs a token, or some text could not be encoded")
        self._byte_ids = [token_to_id[bytes([b])] for b in range(256)]  # byte value -> id
        self._rank = {pair: rank for rank, pair in enumerate(self.merges)}  # pair -> order learned
        for (a, b), new_id in self.merges.items():
            if self.vocab.get(new_id) != self.vocab.get(a, b"?") + self.vocab.get(b, b"?"):
                raise ValueError(f"BPETokenizer: merge ({a}, {b}) -> {new_id} does not join the two tokens' bytes")
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        """One more than the largest id: every id that :meth:`encode` returns is below it."""
        return max(self.vocab) + 1

    # -- training ---------------------------------------------------------------------------------------------

    @classmethod
    def train(cls, text: str, vocab_size: int, *, verbose: bool = False) -> BPETokenizer:
        """Learn ``vocab_size - 256`` merges from ``text`` (fewer if the text runs out of pairs).

        The text is cut into chunks, and identical chunks are counted once with their multiplicity
        (the corpus has ~150 k chunks but only ~15 k distinct ones).
        """
        _check_text(text, "train")
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 256:
            raise ValueError(f"BPETokenizer.train: 'vocab_size' must be an int >= 256 (the 256 byte tokens come "
                             f"first), got {vocab_size!r}")
        chunk_counts = Counter(split_into_chunks(text))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]  # each distinct chunk as byte ids
        counts = list(chunk_counts.values())                             # how often each occurs

        pair_counts: Counter[tuple[int, int]] = Counter()     # pair -> occurrences in the whole text
        where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> words that contain it
        for w, (ids, n) in enumerate(zip(words, counts)):
            for pair in zip(ids, ids[1:]):
                pair_counts[pair] += n
                where[pair].add(w)
        heap = [(-c, pair) for pair, c in pair_counts.items()]
        heapq.heapify(heap)

        vocab = {i: bytes([i]) for i in range(256)}
        merges: dict[tuple[int, int], int] = {}
        for new_id in range(256, vocab_size):
            best = None
            while heap:  # pop until an entry is up to date (counts change after every merge)
                negative_count, pair = heapq.heappop(heap)
                if pair_counts.get(pair, 0) == -negative_count and negative_count < 0:
                    best = pair
                    break
            if best is None:
                break  # no pair left: every chunk is a single token
            merges[best] = new_id
            vocab[new_id] = vocab[best[0]] + vocab[best[1]]
            if verbose:
                print(f"merge {new_id - 255}: {vocab[best[0]]!r} + {vocab[best[1]]!r} -> {new_id} "
                      f"({pair_counts[best]} times)")
            changed: set[tuple[int, int]] = set()
            for w in where.pop(best):  # only the words that contain the pair change
                ids, n = words[w], counts[w]
                for pair in zip(ids, ids[1:]):  # take the old word's pairs out ...
                    pair_counts[pair] -= n
                    changed.add(pair)
                ids = words[w] = merge_pair(ids, best, new_id)
                for pair in zip(ids, ids[1:]):  # ... and put the new word's pairs in
                    pair_counts[pair] += n
                    where[pair].add(w)
                    changed.add(pair)
            for pair in changed:
                count = pair_counts[pair]
                if count > 0:
                    heapq.heappush(heap, (-count, pair))
                else:
                    del pair_counts[pair]
                    where.pop(pair, None)
        return cls(vocab, merges)

    # -- encoding and decoding --------------------------------------------------------------------------------

    def _encode_chunk(self, chunk: str) -> list[int]:
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        ids = [self._byte_ids[b] for b in chunk.encode("utf-8")]
        while len(ids) >= 2:
            # the pair present that was learned first; a pair never learned ranks last
            pair = min(zip(ids, ids[1:]), key=lambda p: self._rank.get(p, float("inf")))
            if pair not in self._rank:
                break
            ids = merge_pair(ids, pair, self.merges[pair])
        if len(self._cache) < 100_000:
            self._cache[chunk] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (a ``list[int]``, each below :attr:`vocab_size`)."""
        _check_text(text, "encode")
        return [i for chunk in split_into_chunks(text) for i in self._encode_chunk(chunk)]

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes the ids stand for (a piece of a longer text may end inside a UTF-8 character)."""
        parts = []
        for i in ids:
            token = self.vocab.get(i) if isinstance(i, int) or hasattr(i, "__index__") else None
            if token is None:
                raise ValueError(f"BPETokenizer.decode: id {i!r} is not in the vocabulary "
                                 f"(ids are ints in [0, {self.vocab_size}))")
            parts.append(token)
        return b"".join(parts)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``: exact for ids from :meth:`encode`. Ids that end inside a UTF-8 character
        (possible for an arbitrary id sequence) decode with U+FFFD there, as GPT-2's tokenizer does."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """Each id's bytes shown as text (a token that is part of a character shows as ``\\xNN`` escapes)."""
        out = []
        for i in ids:
            token = self.decode_bytes([i])
            try:
                out.append(token.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(str(token)[2:-1])
        return out

    # -- files ------------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as JSON: the vocabulary (bytes in hex), the merges in rank order, special tokens."""
        data = {
            "format": _FORMAT,
            "version": 1,
            "split_pattern": GPT2_SPLIT_PATTERN,
            "vocab": {str(i): token.hex() for i, token in sorted(self.vocab.items())},
            "merges": [[a, b, new_id] for (a, b), new_id in self.merges.items()],
            "special_tokens": self.special_tokens,
        }
        Path(path).write_text(json.dumps(data, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a file written by :meth:`save`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"BPETokenizer.load: {path} is not a file written by BPETokenizer.save "
                             "(for GPT-2's files use BPETokenizer.from_gpt2_files)")
        if data.get("split_pattern") != GPT2_SPLIT_PATTERN:
            raise ValueError(f"BPETokenizer.load: {path} was saved with another split pattern")
        vocab = {int(i): bytes.fromhex(token) for i, token in data["vocab"].items()}
        merges = {(a, b): new_id for a, b, new_id in data["merges"]}
        return cls(vocab, merges, dict(data.get("special_tokens", {})))

    @classmethod
    def from_gpt2_files(cls, vocab_json_path: str | Path, merges_txt_path: str | Path | None = None) -> BPETokenizer:
        """GPT-2's tokenizer from its ``vocab.json`` and ``merges.txt`` -- or from one ``tokenizer.json``
        (Hugging Face's format, a byte-level BPE model) passed alone.

        In those files a token is written as text through :func:`bytes_to_unicode` (``"Ġthe"`` is the bytes
        ``b" the"``); ``merges.txt`` lists one merge per line, ``"Ġ t"``, in rank order, after an optional
        ``#version`` line. Tokens that are not byte sequences of the merges (``<|endoftext|>``) become
        special tokens: decoded, never produced by :meth:`encode`.
        """
        path = Path(vocab_json_path)
        data = json.loads(path.read_text(encoding="utf-8"))
        if merges_txt_path is None:  # tokenizer.json
            model = data.get("model", {}) if isinstance(data, dict) else {}
            if model.get("type") != "BPE":
                raise ValueError(f"BPETokenizer.from_gpt2_files: {path} is not a tokenizer.json of a BPE model; "
                                 "pass vocab.json and merges.txt, or a tokenizer.json")
            token_ids = model["vocab"]
            merge_lines = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
            added = {t["content"]: t["id"] for t in data.get("added_tokens", [])}
        else:
            token_ids = data
            merge_lines = [line for line in Path(merges_txt_path).read_text(encoding="utf-8").splitlines()
                           if line.strip() and not line.startswith("#version")]
            added = {}
        byte_of = {char: byte for byte, char in bytes_to_unicode().items()}
        vocab = {}
        for token, i in token_ids.items():
            in_bytes = token not in added and all(ch in byte_of for ch in token)
            vocab[int(i)] = bytes(byte_of[ch] for ch in token) if in_bytes else token.encode("utf-8")
        id_of = {token: i for i, token in vocab.items() if i not in added.values()}
        merges = {}
        for line_number, line in enumerate(merge_lines, 1):
            parts = line.split(" ")
            if len(parts) != 2:
                raise ValueError(f"BPETokenizer.from_gpt2_files: merge {line_number} {line!r} is not two tokens")
            left, right = (bytes(byte_of.get(ch, 0) for ch in part) for part in parts)
            try:
                merges[(id_of[left], id_of[right])] = id_of[left + right]
            except KeyError as missing:
                raise ValueError(f"BPETokenizer.from_gpt2_files: merge {line_number} {line!r} uses a token "
                                 f"missing from the vocabulary: {missing}") from None
        # a token longer than one byte that no merge produces (GPT-2's <|endoftext|>) is special
        produced = set(merges.values())
        special = {vocab[i].decode("utf-8", errors="replace"): i for i in vocab
                   if len(vocab[i]) > 1 and i not in produced}
        special.update(added)
        return cls(vocab, merges, special)

    def save_gpt2_files(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``vocab.json`` and ``merges.txt`` in GPT-2's format (readable by ``transformers.GPT2Tokenizer``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        as_text = bytes_to_unicode()
        special_ids = set(self.special_tokens.values())
        vocab = {("".join(as_text[b] for b in token) if i not in special_ids else token.decode("utf-8")): i
                 for i, token in sorted(self.vocab.items())}
        vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
        vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        lines = ["#version: 0.2"] + [
            "".join(as_text[b] for b in self.vocab[a]) + " " + "".join(as_text[b] for b in self.vocab[b_])
            for a, b_ in self.merges]
        merges_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return vocab_path, merges_path
