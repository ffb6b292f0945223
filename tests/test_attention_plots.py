"""The static attention plots draw exactly the weights they are given, and refuse what they cannot draw."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from bigmodel_lib.viz import plot_attention_grid, plot_attention_heatmap  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def random_weights(*shape: int, seed: int = 0) -> np.ndarray:
    """Rows that sum to one, like softmax attention weights."""
    scores = np.random.default_rng(seed).standard_normal(shape)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def tick_texts(labels) -> list[str]:
    return [label.get_text() for label in labels]


def panels(fig):
    """The heatmap axes of a figure (the colour bar is an Axes too, but holds no AxesImage of its own)."""
    return [ax for ax in fig.axes if ax.images]


# -- plot_attention_heatmap ---------------------------------------------------------------------------

def test_heatmap_draws_the_weights_with_token_labels_and_a_colorbar():
    weights = random_weights(3, 4)
    fig = plot_attention_heatmap(weights, ["I", "like", "tea"], ["<s>", "I", "like", "tea"], title="one head")
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    (ax,) = panels(fig)
    np.testing.assert_array_equal(ax.images[0].get_array(), weights)
    assert tick_texts(ax.get_yticklabels()) == ["I", "like", "tea"]
    assert tick_texts(ax.get_xticklabels()) == ["<s>", "I", "like", "tea"]
    assert ax.get_title() == "one head"
    assert ax.get_xlabel() == "key" and ax.get_ylabel() == "query"


def test_heatmap_without_labels_shows_positions():
    fig = plot_attention_heatmap(random_weights(2, 5))
    (ax,) = panels(fig)
    assert tick_texts(ax.get_yticklabels()) == ["0", "1"]
    assert tick_texts(ax.get_xticklabels()) == ["0", "1", "2", "3", "4"]


def test_heatmap_annotates_small_matrices_with_their_values():
    weights = np.array([[0.25, 0.75], [1.0, 0.0]])
    (ax,) = panels(plot_attention_heatmap(weights))
    assert sorted(t.get_text() for t in ax.texts) == ["0.00", "0.25", "0.75", "1.00"]
    (quiet,) = panels(plot_attention_heatmap(weights, annotate=False))
    assert len(quiet.texts) == 0
    (big,) = panels(plot_attention_heatmap(random_weights(20, 20)))
    assert len(big.texts) == 0  # 400 cells: numbers would be unreadable, so none by default


def test_heatmap_accepts_a_torch_tensor_that_requires_grad():
    weights = torch.softmax(torch.randn(3, 3, requires_grad=True), dim=-1)
    (ax,) = panels(plot_attention_heatmap(weights))
    np.testing.assert_allclose(ax.images[0].get_array(), weights.detach().numpy(), rtol=1e-6)


def test_heatmap_draws_into_a_given_axes_and_returns_its_figure():
    fig, (left, right) = plt.subplots(1, 2)
    returned = plot_attention_heatmap(random_weights(2, 2), ax=right, colorbar=False)
    assert returned is fig
    assert right.images and not left.images


def test_heatmap_colour_scale_starts_at_zero_and_can_be_fixed():
    weights = np.array([[0.2, 0.8], [0.6, 0.4]])
    (ax,) = panels(plot_attention_heatmap(weights))
    assert ax.images[0].get_clim() == (0.0, 0.8)
    (fixed,) = panels(plot_attention_heatmap(weights, vmin=0.0, vmax=1.0))
    assert fixed.images[0].get_clim() == (0.0, 1.0)
    (zeros,) = panels(plot_attention_heatmap(np.zeros((2, 2))))  # all-masked rows give zeros
    low, high = zeros.images[0].get_clim()
    assert high > low


def test_long_sequences_label_every_nth_token_only():
    labels = [f"t{i}" for i in range(100)]
    (ax,) = panels(plot_attention_heatmap(random_weights(100, 100), labels, labels))
    shown = tick_texts(ax.get_xticklabels())
    assert 10 <= len(shown) <= 40
    assert shown[:2] == ["t0", "t3"]


@pytest.mark.parametrize("shape", [(4,), (2, 3, 3), (1, 2, 3, 3), (0, 3)])
def test_heatmap_rejects_other_shapes_naming_the_accepted_one(shape):
    with pytest.raises(ValueError, match=r"expected shape \(Lq, Lk\), got \(") as error:
        plot_attention_heatmap(np.zeros(shape))
    assert "(" + ", ".join(str(s) for s in shape) in str(error.value)


def test_heatmap_rejects_labels_of_the_wrong_length():
    with pytest.raises(ValueError, match="'query_labels' has 2 labels, but the weights have 3 query rows"):
        plot_attention_heatmap(random_weights(3, 4), query_labels=["a", "b"])
    with pytest.raises(ValueError, match="'key_labels' has 5 labels, but the weights have 4 key columns"):
        plot_attention_heatmap(random_weights(3, 4), key_labels=list("abcde"))


def test_heatmap_rejects_a_single_string_as_labels_and_non_arrays():
    with pytest.raises(TypeError, match="not one string"):
        plot_attention_heatmap(random_weights(3, 3), query_labels="abc")
    with pytest.raises(TypeError, match="NumPy array or a torch tensor, got list"):
        plot_attention_heatmap([[0.5, 0.5], [1.0, 0.0]])
    with pytest.raises(TypeError, match="real numbers"):
        plot_attention_heatmap(np.array([["a", "b"]]))


# -- plot_attention_grid ------------------------------------------------------------------------------

def test_grid_of_one_layer_has_one_panel_per_head_and_a_shared_colorbar():
    weights = random_weights(4, 3, 5)
    fig = plot_attention_grid(weights, query_labels=list("abc"), key_labels=list("vwxyz"))
    assert len(fig.axes) == 4 + 1
    heads = panels(fig)
    assert [ax.get_title() for ax in heads] == ["head 0", "head 1", "head 2", "head 3"]
    for head, ax in enumerate(heads):
        np.testing.assert_array_equal(ax.images[0].get_array(), weights[head])
    assert {ax.images[0].get_clim() for ax in heads} == {(0.0, weights.max())}
    assert tick_texts(heads[0].get_yticklabels()) == ["a", "b", "c"]
    assert tick_texts(heads[1].get_yticklabels()) == ["", "", ""]  # inner panels: labels on the outer ones only
    assert tick_texts(heads[3].get_xticklabels()) == list("vwxyz")


def test_grid_of_layers_by_heads_is_row_major_with_layer_names():
    weights = torch.as_tensor(random_weights(2, 3, 4, 4))
    fig = plot_attention_grid(weights, layer_names=["enc 1", "enc 2"], head_names=["h0", "h1", "h2"],
                              title="two layers")
    assert len(fig.axes) == 2 * 3 + 1
    grid = panels(fig)
    for index, ax in enumerate(grid):
        layer, head = divmod(index, 3)
        np.testing.assert_array_equal(ax.images[0].get_array(), weights[layer, head].numpy())
    assert grid[0].get_ylabel().startswith("enc 1") and grid[3].get_ylabel().startswith("enc 2")
    assert [ax.get_title() for ax in grid[:3]] == ["h0", "h1", "h2"]
    assert tick_texts(grid[0].get_xticklabels()) == ["", "", "", ""]  # keys are labelled on the bottom row
    assert tick_texts(grid[3].get_xticklabels()) == ["0", "1", "2", "3"]
    assert fig.get_suptitle() == "two layers"


def test_grid_shared_scale_can_be_fixed():
    fig = plot_attention_grid(random_weights(2, 3, 3), vmin=0.0, vmax=1.0)
    assert {ax.images[0].get_clim() for ax in panels(fig)} == {(0.0, 1.0)}


@pytest.mark.parametrize("shape", [(3, 3), (5,), (1, 1, 2, 3, 3)])
def test_grid_rejects_other_shapes_naming_the_accepted_ones(shape):
    pattern = r"expected shape \(heads, Lq, Lk\) or \(layers, heads, Lq, Lk\), got \("
    with pytest.raises(ValueError, match=pattern):
        plot_attention_grid(np.zeros(shape))


def test_grid_rejects_names_and_labels_of_the_wrong_length():
    weights = random_weights(2, 2, 3, 4)
    with pytest.raises(ValueError, match="'layer_names' has 3 labels, but the weights have 2 layers"):
        plot_attention_grid(weights, layer_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="'head_names' has 1 labels, but the weights have 2 heads"):
        plot_attention_grid(weights, head_names=["a"])
    with pytest.raises(ValueError, match="'key_labels' has 3 labels, but the weights have 4 key columns"):
        plot_attention_grid(weights, key_labels=["a", "b", "c"])
