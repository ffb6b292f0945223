"""Run the source articles' code exactly as printed, and show the first error a reader would hit.

The errata notebooks quote code from the source articles (原文). Rather than describe what is
wrong with it, they execute it: :func:`run_source_code` prints the exception a reader would see,
:func:`patch_source` repairs one exact passage at a time so every change is visible, and
:func:`run_with_keras_stub` runs the articles' Keras snippets without TensorFlow installed, by
putting stand-in ``tensorflow.keras`` modules in ``sys.modules`` for the duration of the run.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any

#: Keras names the source articles import; every one becomes a :class:`KerasStub`.
KERAS_MODELS = ("Sequential", "Model")
KERAS_LAYERS = (
    "Conv2D", "MaxPooling2D", "Flatten", "Dense", "LSTM", "SimpleRNN", "GRU", "Embedding",
    "Attention", "MultiHeadAttention", "Input", "Dropout", "LayerNormalization",
)


def run_source_code(source: str, namespace: dict[str, Any] | None = None) -> str | None:
    """Execute ``source`` in ``namespace`` (a dict, updated in place) and print any exception.

    Returns ``None`` when the code ran to the end, else the printed line ``"TypeError: ..."``, so
    an errata entry can assert on the error it demonstrates.
    """
    if not isinstance(source, str):
        raise TypeError(f"run_source_code: 'source' must be a str, got {type(source).__name__}")
    if namespace is None:
        namespace = {}
    if not isinstance(namespace, dict):
        raise TypeError(f"run_source_code: 'namespace' must be a dict, got {type(namespace).__name__}")
    try:
        exec(source, namespace)  # noqa: S102 -- running the quoted code is the point of an erratum
    except Exception as error:  # noqa: BLE001 -- show whatever the reader would see
        message = f"{type(error).__name__}: {error}"
        print(message)
        return message
    return None


def patch_source(source: str, old: str, new: str) -> str:
    """Replace the one occurrence of ``old`` in ``source`` by ``new`` (a visible, single repair).

    Raises ``ValueError`` when ``old`` occurs zero or several times, so a repair never lands in the
    wrong place silently.
    """
    count = source.count(old)
    if count != 1:
        raise ValueError(f"patch_source: expected exactly one occurrence of {old!r}, found {count}")
    return source.replace(old, new)


class KerasStub:
    """Stands in for any Keras class: takes any arguments, does nothing. It is not Keras.

    Calling an instance returns the instance (as a Keras layer applied to a tensor would return
    a tensor), so functional-API snippets run through; ``compile`` and ``fit`` do nothing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> KerasStub:
        return self

    def compile(self, *args: Any, **kwargs: Any) -> None:
        pass

    def fit(self, *args: Any, **kwargs: Any) -> None:
        pass


def run_with_keras_stub(
    source: str,
    names: Mapping[str, Any] | None = None,
    *,
    models: Iterable[str] = KERAS_MODELS,
    layers: Iterable[str] = KERAS_LAYERS,
) -> str | None:
    """Run Keras code from the source articles with stub ``tensorflow.keras`` modules.

    ``names`` are the variables the snippet uses without defining (``x_train``, ``timesteps`` ...).
    Prints ``"ran to the end (with the stub)"`` or the first exception, and returns ``None`` or that
    exception's line. The real modules (if any) are put back afterwards.
    """
    module_names = ("tensorflow", "tensorflow.keras", "tensorflow.keras.models", "tensorflow.keras.layers")
    stubs = {name: types.ModuleType(name) for name in module_names}
    stubs["tensorflow"].keras = stubs["tensorflow.keras"]
    stubs["tensorflow.keras"].models = stubs["tensorflow.keras.models"]
    stubs["tensorflow.keras"].layers = stubs["tensorflow.keras.layers"]
    for cls in models:
        setattr(stubs["tensorflow.keras.models"], cls, KerasStub)
    for cls in layers:
        setattr(stubs["tensorflow.keras.layers"], cls, KerasStub)
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        result = run_source_code(source, dict(names or {}))
        if result is None:
            print("ran to the end (with the stub)")
        return result
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
