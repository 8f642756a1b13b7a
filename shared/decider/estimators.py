"""Off-policy estimates (IPS, SNIPS, doubly robust) with bootstrap intervals, on logged decisions.

Each logged decision gives the target policy's probability of the logged action (`target`), the
logging policy's (`logged`, > 0), the reward, and for doubly robust a reward model's prediction
for the logged action (`predicted_chosen`) and its value under the target policy
(`predicted_target` = sum over actions of target pmf[a] * prediction[a]).

Intervals are percentile intervals of a seeded Poisson bootstrap, so the same rows give the same
interval. Below `SMALL_N` rows they are widened to cover the Student-t interval too.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RESAMPLES = 500
SEED = 20_261_122
SMALL_N = 30
# Poisson weights drawn at a time: ~11 bytes each, ~3 MB, which stays in cache (measured faster
# than bigger chunks, and it bounds memory whatever n is).
CHUNK_CELLS = 1 << 18

# Poisson(1) counts indexed by a uniform 16-bit draw: several times cheaper than numpy's Poisson
# sampler, and within 1e-4 of the mean, variance and skew (1, 1, 1) that make the bootstrap honest.
_POISSON_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(12)])
_POISSON_BY_U16 = np.searchsorted(
    np.round(_POISSON_CDF * (1 << 16)), np.arange(1 << 16), side="right"
).astype(np.uint8)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval, over `n` logged decisions."""

    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "value": float(self.value),
            "low": float(self.low),
            "high": float(self.high),
            "n": int(self.n),
        }


def ips(
    target: npt.ArrayLike,
    logged: npt.ArrayLike,
    reward: npt.ArrayLike,
    *,
    confidence: float = 0.95,
) -> Interval:
    """Inverse propensity scoring: mean of w * reward, w = target / logged."""
    zeros = np.zeros(np.shape(reward))
    return _estimate(target, logged, reward, zeros, zeros, confidence)["ips"]


def snips(
    target: npt.ArrayLike,
    logged: npt.ArrayLike,
    reward: npt.ArrayLike,
    *,
    confidence: float = 0.95,
) -> Interval:
    """Self-normalised IPS: sum(w * reward) / sum(w); 0, like IPS, when every w is 0."""
    zeros = np.zeros(np.shape(reward))
    return _estimate(target, logged, reward, zeros, zeros, confidence)["snips"]


def dr(
    target: npt.ArrayLike,
    logged: npt.ArrayLike,
    reward: npt.ArrayLike,
    predicted_chosen: npt.ArrayLike,
    predicted_target: npt.ArrayLike,
    *,
    confidence: float = 0.95,
) -> Interval:
    """Doubly robust: mean of predicted_target + w * (reward - predicted_chosen).

    With zero predictions it is IPS exactly.
    """
    return _estimate(target, logged, reward, predicted_chosen, predicted_target, confidence)["dr"]


class OffPolicy:
    """Logged decisions added one at a time; `estimates()` gives IPS, SNIPS and DR at once.

    Leave the predictions at 0 when there is no reward model: DR is then IPS.
    """

    def __init__(self) -> None:
        self._columns = tuple(array("d") for _ in range(5))

    def __len__(self) -> int:
        return len(self._columns[0])

    def add(
        self,
        target: float,
        logged: float,
        reward: float,
        predicted_chosen: float = 0.0,
        predicted_target: float = 0.0,
    ) -> None:
        row = (target, logged, reward, predicted_chosen, predicted_target)
        for column, value in zip(self._columns, row, strict=True):
            column.append(value)

    def estimates(self, *, confidence: float = 0.95) -> dict[str, Interval]:
        target, logged, reward, predicted_chosen, predicted_target = self._columns
        return _estimate(target, logged, reward, predicted_chosen, predicted_target, confidence)


def _estimate(
    target: npt.ArrayLike,
    logged: npt.ArrayLike,
    reward: npt.ArrayLike,
    predicted_chosen: npt.ArrayLike,
    predicted_target: npt.ArrayLike,
    confidence: float,
) -> dict[str, Interval]:
    """All three estimators on one set of bootstrap weights (what one costs, all three cost)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    pi, mu, r, q_chosen, q_target = _columns(
        target=target,
        logged=logged,
        reward=reward,
        predicted_chosen=predicted_chosen,
        predicted_target=predicted_target,
    )
    n = len(r)
    if n == 0:
        empty = Interval(0.0, 0.0, 0.0, 0)
        return {"ips": empty, "snips": empty, "dr": empty}

    w = pi / mu
    weighted = w * r
    doubly_robust = q_target + w * (r - q_chosen)
    weight_sum = float(w.sum())
    values = {
        "ips": float(weighted.mean()),
        "snips": float(weighted.sum()) / weight_sum if weight_sum > 0 else 0.0,
        "dr": float(doubly_robust.mean()),
    }
    if n < 2:  # one row shows no spread: the interval collapses and `n` says why
        return {name: Interval(v, v, v, n) for name, v in values.items()}

    sums = _poisson_sums(np.column_stack([np.ones(n), w, weighted, doubly_robust]))
    rows, weights, weighted_sums, dr_sums = sums[sums[:, 0] > 0].T  # an empty resample has no mean
    snips_draws = np.divide(
        weighted_sums, weights, out=np.zeros_like(weights), where=weights > 0
    )  # the same 0 convention as the point estimate
    draws = {
        "ips": weighted_sums / rows,
        "snips": snips_draws,
        "dr": dr_sums / rows,
    }
    # SNIPS's per-row terms for the t interval: its linearisation around the estimate.
    mean_w = weight_sum / n
    per_row = {
        "ips": weighted,
        "snips": w * (r - values["snips"]) / mean_w if mean_w > 0 else np.zeros(n),
        "dr": doubly_robust,
    }
    return {
        name: _interval(values[name], draws[name], per_row[name], confidence) for name in values
    }


def _columns(**named: npt.ArrayLike) -> list[np.ndarray]:
    """The inputs as float64 vectors of one length, or a ValueError naming the bad one."""
    columns = [np.asarray(v, dtype=np.float64) for v in named.values()]
    lengths = {name: c.shape for name, c in zip(named, columns, strict=True)}
    if any(len(shape) != 1 for shape in lengths.values()) or len(set(lengths.values())) > 1:
        raise ValueError(f"expected vectors of one length, got shapes {lengths}")
    for name, column in zip(named, columns, strict=True):
        if not np.isfinite(column).all():
            raise ValueError(f"{name} has a NaN or infinite value")
    target, logged = columns[0], columns[1]
    if (target < 0).any():
        raise ValueError("target probabilities must be >= 0")
    if (logged <= 0).any():
        raise ValueError("logged probabilities must be > 0")
    return columns


def _poisson_sums(columns: np.ndarray) -> np.ndarray:
    """Each column's sum under RESAMPLES seeded Poisson(1) reweightings of the rows."""
    n = columns.shape[0]
    rng = np.random.default_rng(SEED)
    per_chunk = max(1, CHUNK_CELLS // n)
    sums = np.empty((RESAMPLES, columns.shape[1]))
    for start in range(0, RESAMPLES, per_chunk):
        stop = min(start + per_chunk, RESAMPLES)
        draws = rng.integers(0, 1 << 16, size=(stop - start, n), dtype=np.uint16)
        sums[start:stop] = _POISSON_BY_U16[draws].astype(np.float64) @ columns
    return sums


def _interval(value: float, draws: np.ndarray, per_row: np.ndarray, confidence: float) -> Interval:
    """Percentile interval of the bootstrap draws, held to contain the estimate itself."""
    n = len(per_row)
    tail = (1.0 - confidence) / 2.0
    low, high = (float(q) for q in np.quantile(draws, [tail, 1.0 - tail]))
    # Rounding (a constant column) or skew can leave the percentiles a hair beside the estimate;
    # an interval that excludes its own estimate reads as a bug, so never report one.
    low, high = min(low, value), max(high, value)
    if n < SMALL_N:
        # The wider of the two: t repairs the bootstrap's narrowness at small n, and keeping the
        # bootstrap's ends keeps the skew of heavy weights that the symmetric t cannot show.
        half = _t_critical(confidence, n - 1) * float(per_row.std(ddof=1)) / math.sqrt(n)
        low, high = min(low, value - half), max(high, value + half)
    return Interval(value, low, high, n)


def _t_critical(confidence: float, df: int) -> float:
    """t with P(|T| <= t) = confidence for Student's t on integer df (A&S 26.7.3-4, bisection)."""

    def mass(t: float) -> float:
        theta = math.atan(t / math.sqrt(df))
        sin, cos = math.sin(theta), math.cos(theta)
        if df % 2:
            series, term = 0.0, cos
            for j in range(1, (df - 1) // 2 + 1):
                series += term
                term *= cos * cos * (2 * j) / (2 * j + 1)
            return 2.0 / math.pi * (theta + sin * series)
        series, term = 0.0, 1.0
        for j in range(1, df // 2 + 1):
            series += term
            term *= cos * cos * (2 * j - 1) / (2 * j)
        return sin * series

    low, high = 0.0, 1.0
    while mass(high) < confidence:
        low, high = high, 2.0 * high
    for _ in range(100):
        middle = (low + high) / 2.0
        low, high = (middle, high) if mass(middle) < confidence else (low, middle)
    return high
