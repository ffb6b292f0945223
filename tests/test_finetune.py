"""The fine-tuning pieces of notebook 05.9: the license corpus, the vocabulary mapping, the labelled line task,
padding and pooling of the GPT classifier, and that its training loop learns a separable toy task."""

from pathlib import Path

import numpy as np
import pytest
import torch

from bigmodel_lib.contracts.gpt import GPTConfig
from bigmodel_lib.data.licenses import LICENSE_DIR, load_license_texts, make_source_lines, map_to_vocabulary
from bigmodel_lib.data.text_corpus import CharTokenizer, load_python_docs
from bigmodel_lib.finetune import GPTClassifier, classifier_accuracy, encode_padded, gpt_hidden_states, train_classifier
from bigmodel_lib.nn_torch.gpt import GPT

needs_licenses = pytest.mark.skipif(not LICENSE_DIR.is_dir(), reason="no /usr/share/common-licenses (not Debian)")


@needs_licenses
def test_license_texts_are_read_without_links_and_mapped_to_the_docs_vocabulary():
    text = load_license_texts()
    assert len(text) > 100_000
    assert text.count("GNU GENERAL PUBLIC LICENSE") >= 2  # GPL-2 and GPL-3 (the link GPL -> GPL-3 is skipped)
    vocabulary = CharTokenizer.from_text(load_python_docs()).chars
    mapped, replaced = map_to_vocabulary(text, vocabulary)
    assert len(mapped) == len(text) and set(mapped) <= set(vocabulary)
    assert sum(replaced.values()) == sum(a != b for a, b in zip(text, mapped))


def test_missing_license_folder_fails_with_a_clear_message(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="base-files"):
        load_license_texts(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no license files"):
        load_license_texts(tmp_path)


def test_map_to_vocabulary_uses_the_table_then_the_fallback():
    mapped, replaced = map_to_vocabulary("a\tb\x0cc€", "abc \n")
    assert mapped == "a b\nc " and replaced == {"\t": 1, "\x0c": 1, "€": 1}
    with pytest.raises(ValueError, match="fallback"):
        map_to_vocabulary("x", "abc \n", fallback="?")
    with pytest.raises(ValueError, match="replacements"):
        map_to_vocabulary("x", "abc")


@needs_licenses
def test_source_lines_are_balanced_disjoint_and_deterministic():
    vocabulary = CharTokenizer.from_text(load_python_docs()).chars
    data = make_source_lines(vocabulary, per_class=300)
    again = make_source_lines(vocabulary, per_class=300)
    assert data.train_texts == again.train_texts and np.array_equal(data.val_labels, again.val_labels)
    assert np.bincount(data.train_labels).tolist() == [240, 240, 240]
    assert np.bincount(data.val_labels).tolist() == [60, 60, 60]
    assert not set(data.train_texts) & set(data.val_texts)
    assert all(16 <= len(t) <= 48 and t == t.strip() for t in data.train_texts + data.val_texts)


def test_encode_padded_pads_right_and_records_lengths():
    ids, lengths = encode_padded(["ab", "abcd", "abcdefg"], lambda s: [ord(c) - 96 for c in s], 5)
    assert ids.tolist() == [[1, 2, 0, 0, 0], [1, 2, 3, 4, 0], [1, 2, 3, 4, 5]]
    assert lengths.tolist() == [2, 4, 5]
    with pytest.raises(ValueError, match="empty"):
        encode_padded([""], lambda s: [], 5)


def tiny_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=12, block_size=16, n_layer=2, n_head=2, d_model=16))


def test_hidden_states_are_what_the_gpt_feeds_its_output_layer():
    gpt = tiny_gpt()
    idx = torch.randint(0, 12, (3, 9))
    with torch.no_grad():
        logits = torch.nn.functional.linear(gpt_hidden_states(gpt, idx), gpt.tok_emb.weight)
        torch.testing.assert_close(logits, gpt(idx))
    with pytest.raises(ValueError, match="block_size"):
        gpt_hidden_states(gpt, torch.zeros(1, 17, dtype=torch.long))


def test_padding_does_not_change_the_classifier_output():
    model = GPTClassifier(tiny_gpt(), num_classes=3).eval()
    idx = torch.randint(1, 12, (1, 7))
    padded = torch.cat([idx, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    other_padding = torch.cat([idx, torch.full((1, 5), 11, dtype=torch.long)], dim=1)
    length = torch.tensor([7])
    with torch.no_grad():
        reference = model(idx, length)
        torch.testing.assert_close(model(padded, length), reference, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(model(other_padding, length), reference, rtol=1e-6, atol=1e-6)


def test_the_classifier_learns_a_task_that_needs_the_content():
    """Label = whether token 3 occurs in the sequence: a bag-of-tokens rule the pooled model can learn."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 12, (600, 10), generator=generator)
    has_three = torch.rand(600, generator=generator) < 0.5
    ids[has_three, torch.randint(0, 6, (int(has_three.sum()),), generator=generator)] = 3
    lengths = torch.randint(6, 11, (600,), generator=generator)
    labels = has_three.long()
    model = GPTClassifier(tiny_gpt(), num_classes=2)
    history, optimizer = train_classifier(model, (ids[:500], lengths[:500], labels[:500]),
                                          (ids[500:], lengths[500:], labels[500:]), steps=150, batch_size=32,
                                          max_lr=3e-3, eval_every=50)
    assert history.eval_step == [0, 50, 100, 150] and len(history.train_loss) == 150
    assert history.val_accuracy[-1] == classifier_accuracy(model, ids[500:], lengths[500:], labels[500:])
    assert history.val_accuracy[-1] >= 0.9
    assert len(optimizer.state) == sum(1 for p in model.parameters() if p.requires_grad)
