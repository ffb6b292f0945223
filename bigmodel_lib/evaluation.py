"""How precisely a test set measures a model's accuracy: the Wilson interval and the test-set size it implies.

A model's accuracy on ``n`` test examples is an estimate. Its 95 % interval is what separates "model B is better" from
"model B was luckier on these examples". Formulas: Wilson (1927), "Probable inference, the law of succession, and
statistical inference", JASA 22, 209-212 (the score interval); the normal-approximation sample size
``n = z^2 p (1 - p) / m^2`` for a half-width ``m`` (e.g. Agresti, *Categorical Data Analysis*, 3rd ed., section 1.4).

::

    from bigmodel_lib.evaluation import wilson_interval, examples_for_margin
    wilson_interval(correct=90, total=100)        # (0.825..., 0.944...)
    examples_for_margin(accuracy=0.9, margin=0.01)  # 3458 examples for +-1 point at 95 %
"""

from __future__ import annotations

import math

from scipy.stats import norm

__all__ = ["examples_for_margin", "wilson_interval", "z_value"]


def z_value(confidence: float) -> float:
    """The two-sided normal quantile ``z_{1 - (1 - confidence)/2}``: 1.95996... for 95 %."""
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0.0 < confidence < 1.0:
        raise ValueError(f"z_value: 'confidence' must be a number in (0, 1), got {confidence!r}")
    return float(norm.ppf(0.5 + confidence / 2.0))


def wilson_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``p = correct / total``:
    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)`` (Wilson 1927)."""
    where = "wilson_interval"
    for name, value in (("correct", correct), ("total", total)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{where}: '{name}' must be an int >= 0, got {value!r}")
    if total == 0 or correct > total:
        raise ValueError(f"{where}: need 0 <= correct <= total and total > 0, got correct={correct}, total={total}")
    z = z_value(confidence)
    p, n = correct / total, total
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def examples_for_margin(accuracy: float, margin: float, confidence: float = 0.95) -> int:
    """Test examples for a ``confidence`` interval of half-width ``margin`` around ``accuracy``:
    ``ceil(z^2 p (1 - p) / m^2)`` (normal approximation)."""
    where = "examples_for_margin"
    if not isinstance(accuracy, (int, float)) or not 0.0 < accuracy < 1.0:
        raise ValueError(f"{where}: 'accuracy' must be in (0, 1), got {accuracy!r}")
    if not isinstance(margin, (int, float)) or not 0.0 < margin < 1.0:
        raise ValueError(f"{where}: 'margin' must be in (0, 1), got {margin!r}")
    z = z_value(confidence)
    return math.ceil(z * z * accuracy * (1 - accuracy) / (margin * margin))
