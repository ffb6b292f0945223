"""The course's GPT outside PyTorch: export to ONNX, run with ONNX Runtime, compare, quantize, generate.

ONNX is a file format for a computation graph (operators such as ``MatMul``, ``Softmax``,
``LayerNormalization``) plus its weights; ONNX Runtime is an engine that loads such a file and runs it, with
no Python model code and no PyTorch. The path of notebook 05.10::

    path = export_gpt(model, "gpt.onnx")                  # torch.onnx.export (dynamo), dynamic batch and length
    session = make_session(path)                          # onnxruntime.InferenceSession, CPUExecutionProvider
    logits = run_logits(session, idx)                     # (B, T) int64 -> (B, T, V) float32
    compare_with_torch(model, session, idx)               # the largest gap to PyTorch's logits
    quantize_int8(path, "gpt.int8.onnx")                  # onnxruntime.quantization.quantize_dynamic
    greedy_generate(session, prompt, 50, block_size)      # full-context recompute: the graph has no KV cache

``onnx`` and ``onnxruntime`` are imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

import collections
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bigmodel_lib._checks import check_positive_int

__all__ = [
    "LogitComparison",
    "compare_with_torch",
    "cross_entropy_from_logits",
    "export_gpt",
    "greedy_generate",
    "make_session",
    "matmul_weight_sources",
    "onnx_file_sizes",
    "onnx_op_counts",
    "quantize_int8",
    "run_logits",
    "validation_loss",
    "weight_initializers",
]

#: float32 tolerance of :func:`compare_with_torch` (``torch.testing.assert_close``'s defaults for float32)
FLOAT32_RTOL, FLOAT32_ATOL = 1.3e-6, 1e-5


def export_gpt(
    model: torch.nn.Module,
    path: str | Path,
    *,
    example_batch: int = 2,
    example_length: int | None = None,
    opset_version: int | None = None,
) -> Path:
    """Export ``model`` (an ``nn_torch.GPT``: ``idx (B, T)`` int64 -> ``logits (B, T, V)``) to ``path``.

    ``torch.onnx.export(..., dynamo=True)`` traces the model with ``torch.export`` on an example of shape
    ``(example_batch, example_length)`` (default length: ``min(16, block_size)``) and writes the graph to
    ``path`` and the weights to ``path + ".data"`` (external data). Both axes are **dynamic**
    (``dynamic_shapes``): any batch, and any length up to ``block_size`` (learned positions; with RoPE the
    length is unbounded), run through the same file. The example sizes must be at least 2: ``torch.export``
    treats a size of 1 as a constant. No KV cache: each call recomputes every position.
    The model is put in eval mode (dropout off) and on the CPU for the trace.
    """
    where = "export_gpt"
    config = model.config
    length = min(16, config.block_size) if example_length is None else example_length
    for name, value in (("example_batch", example_batch), ("example_length", length)):
        check_positive_int(where, name, value)
        if value < 2:
            raise ValueError(f"{where}: '{name}' must be >= 2 (torch.export specializes a size of 1), got {value}")
    if length > config.block_size:
        raise ValueError(f"{where}: 'example_length' must be <= block_size={config.block_size}, got {length}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    example = torch.randint(0, config.vocab_size, (example_batch, length), generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1)
    max_length = config.block_size if config.position == "learned" else None
    seq = torch.export.Dim("seq", min=1, max=max_length) if max_length else torch.export.Dim("seq", min=1)
    registry_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry_log.level
    registry_log.setLevel(logging.ERROR)  # "torchvision is not installed. Skipping torchvision::nms" and the like
    try:
        with warnings.catch_warnings():  # a torch-internal deprecation notice, nothing the caller can act on
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
            torch.onnx.export(
                model, (example,), str(path), dynamo=True, input_names=["idx"], output_names=["logits"],
                dynamic_shapes={"idx": {0: batch, 1: seq}}, opset_version=opset_version, external_data=True,
                verbose=False,
            )
    finally:
        registry_log.setLevel(level)
    return path


def onnx_file_sizes(path: str | Path) -> dict[str, int]:
    """Bytes of the ``.onnx`` file and of every external-data file its weights point to, by file name."""
    import onnx

    path = Path(path)
    graph = onnx.load(str(path), load_external_data=False).graph
    locations = {entry.value for tensor in graph.initializer for entry in tensor.external_data
                 if entry.key == "location"}
    return {name: (path.parent / name).stat().st_size for name in [path.name, *sorted(locations)]}


def onnx_op_counts(path: str | Path) -> dict[str, int]:
    """How many nodes of each operator type the graph holds (most frequent first)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return dict(collections.Counter(node.op_type for node in graph.node).most_common())


def weight_initializers(path: str | Path, *, min_elements: int = 1024) -> list[tuple[str, str, tuple[int, ...]]]:
    """``(name, dtype, shape)`` of every stored tensor of at least ``min_elements`` numbers: the weight matrices.

    The exporter keeps a parameter's name when it stores it as it is (``tok_emb.weight``) and gives a new name
    (``val_103``) to a tensor it computed at export time, such as a weight stored already transposed for ``MatMul``.
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    table = []
    for tensor in graph.initializer:
        if int(np.prod(tensor.dims)) >= min_elements:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).name
            table.append((tensor.name, dtype, tuple(int(d) for d in tensor.dims)))
    return table


def matmul_weight_sources(path: str | Path) -> dict[str, int]:
    """For the ``MatMul``/``MatMulInteger`` nodes: where their second operand comes from, counted.

    ``"stored <dtype>"``: a tensor stored in the file (what ``quantize_dynamic`` can convert); otherwise the type of
    the node that computes it at run time (``Transpose`` of a weight, or of keys inside attention, ...).
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    stored = {t.name: onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name for t in graph.initializer}
    producer = {output: node.op_type for node in graph.node for output in node.output}
    sources: collections.Counter[str] = collections.Counter()
    for node in graph.node:
        if node.op_type in ("MatMul", "MatMulInteger"):
            operand = node.input[1]
            origin = f"stored {stored[operand]}" if operand in stored else producer.get(operand, "graph input")
            sources[f"{node.op_type} <- {origin}"] += 1
    return dict(sources.most_common())


def make_session(path: str | Path, *, threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU (``CPUExecutionProvider``) with ``threads`` threads
    inside an operator and one between operators, all graph optimizations on."""
    import onnxruntime as ort

    check_positive_int("make_session", "threads", threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _ids_array(idx: Any) -> np.ndarray:
    """Token ids ``(B, T)`` as the int64 NumPy array the exported graph takes."""
    array = idx.detach().cpu().numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"run_logits: 'idx' expected integer ids of shape (B, T), got {array.dtype} {array.shape}")
    return array.astype(np.int64, copy=False)


def run_logits(session: Any, idx: Any) -> np.ndarray:
    """The session's logits ``(B, T, V)`` float32 for token ids ``idx (B, T)`` (array or tensor)."""
    return session.run(["logits"], {"idx": _ids_array(idx)})[0]


@dataclass(frozen=True)
class LogitComparison:
    """ONNX Runtime's logits against PyTorch's for one input: the largest gaps and the verdict."""

    shape: tuple[int, ...]
    max_abs: float
    rtol: float
    atol: float
    same_argmax: float  # fraction of positions whose most likely next token agrees
    allowance_used: float  # max over logits of |ORT - torch| / (atol + rtol |torch|): at most 1 to pass

    @property
    def passed(self) -> bool:
        """Every logit within ``atol + rtol |torch|`` (the test of ``torch.testing.assert_close``)."""
        return self.allowance_used <= 1.0

    def __str__(self) -> str:
        verdict = "within" if self.passed else "NOT within"
        return (f"logits {self.shape}: max |ORT - torch| = {self.max_abs:.2e}, {verdict} rtol={self.rtol:g}, "
                f"atol={self.atol:g} (worst logit uses {self.allowance_used:.0%} of its allowance); "
                f"same argmax at {self.same_argmax:.1%} of positions")


def compare_with_torch(model: torch.nn.Module, session: Any, idx: Any, *, rtol: float = FLOAT32_RTOL,
                       atol: float = FLOAT32_ATOL) -> LogitComparison:
    """Run ``idx`` through ``model`` (eval, no grad) and ``session``; compare the logits elementwise."""
    ids = _ids_array(idx)
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(ids).to(next(model.parameters()).device)).float().cpu().numpy()
    got = run_logits(session, ids)
    gap = np.abs(got - expected)
    return LogitComparison(
        shape=tuple(got.shape), max_abs=float(gap.max()), rtol=rtol, atol=atol,
        same_argmax=float(np.mean(got.argmax(-1) == expected.argmax(-1))),
        allowance_used=float((gap / (atol + rtol * np.abs(expected))).max()),
    )


def cross_entropy_from_logits(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean ``-log softmax(logits)[target]`` in nats, computed stably in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))  # (B, T, V)
    picked = np.take_along_axis(log_probs, np.asarray(targets)[..., None].astype(np.int64), axis=-1)  # (B, T, 1)
    return float(-picked.mean())


def validation_loss(session: Any, batches: list[tuple[Any, Any]]) -> float:
    """Mean cross-entropy of the session's next-token predictions over ``(x, y)`` batches (equal sizes)."""
    if not batches:
        raise ValueError("validation_loss: 'batches' is empty")
    return float(np.mean([cross_entropy_from_logits(run_logits(session, x), _ids_array(y)) for x, y in batches]))


def greedy_generate(session: Any, prompt: Any, max_new_tokens: int, block_size: int) -> np.ndarray:
    """Append ``max_new_tokens`` greedy tokens to ``prompt (B, T)``: each step runs the whole context (its last
    ``block_size`` tokens) through the session and takes the argmax at the last position. The exported graph
    has no KV cache, so step ``n`` costs ``n`` positions, as ``GPT.generate(use_cache=False)``."""
    check_positive_int("greedy_generate", "block_size", block_size)
    ids = _ids_array(prompt)
    for _ in range(max_new_tokens):
        logits = run_logits(session, ids[:, -block_size:])  # (B, T, V)
        ids = np.concatenate([ids, logits[:, -1].argmax(-1)[:, None]], axis=1)  # (B, T) -> (B, T + 1)
    return ids


def quantize_int8(source: str | Path, target: str | Path, *, per_channel: bool = False) -> Path:
    """ONNX Runtime's dynamic int8 quantization of ``source`` into ``target`` (one file, no external data).

    ``quantize_dynamic`` stores the weights of ``MatMul`` (and ``Gather``) nodes as int8 with a float scale
    (per tensor, or per output channel with ``per_channel``); at run time each activation is quantized to uint8
    on the fly (``DynamicQuantizeLinear``) and the product runs in integers (``MatMulInteger``).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a root-level advice to pre-process for static shapes
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=per_channel)
    finally:
        root.setLevel(level)
    return target
