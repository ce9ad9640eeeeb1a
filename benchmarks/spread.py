"""What every benchmark here reports the same way: the order of the sides per iteration, the spread of
each side (median, p10, p90), and the machine's load, so a reader can tell contention from cost.

Imported by the ``bench_*.py`` scripts next to it (a script's own directory is on ``sys.path``).
"""

from __future__ import annotations

import itertools
import os
import statistics
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def order(sides: Sequence[T], i: int) -> list[T]:
    """The sides in the i-th of all their orders, in turn: each side runs first, last and after every
    other side equally often, so neither a warm cache nor the previous side's noise favours one."""
    perms = list(itertools.permutations(sides))
    return list(perms[i % len(perms)])


def quantile(xs: Sequence[float], q: float) -> float:
    """The q-quantile, interpolated between the nearest ranks (NaN when there are no samples)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def spread(xs: Sequence[float], scale: float = 1.0, digits: int = 1) -> str:
    """``median (p10-p90)`` of ``xs`` times ``scale``, e.g. seconds shown as ms with ``scale=1000``."""
    m, lo, hi = (f * scale for f in (median(xs), quantile(xs, 0.1), quantile(xs, 0.9)))
    return f"{m:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


class Load:
    """The 1-minute load average at the start, at checkpoints and at the end of a benchmark."""

    def __init__(self) -> None:
        self.cpus = os.cpu_count() or 1
        self.start = self._now()
        self.samples = [self.start]

    @staticmethod
    def _now() -> float:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    def sample(self) -> float:
        now = self._now()
        self.samples.append(now)
        return now

    def start_line(self) -> str:
        return f"# load average at the start: {self.start:.2f} on {self.cpus} CPUs"

    def end_lines(self) -> list[str]:
        end = self.sample()
        peak = max(self.samples)
        lines = [
            f"# load average at the end: {end:.2f}; start {self.start:.2f}, highest seen {peak:.2f}, {self.cpus} CPUs"
        ]
        if peak > self.cpus:
            lines.append(
                f"# LOAD ABOVE CORE COUNT: load reached {peak:.2f} on {self.cpus} CPUs, so times are "
                f"stretched by contention; compare the ratios measured in this run, not absolute times"
            )
        return lines
