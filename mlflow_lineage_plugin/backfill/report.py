"""The plan and the outcome of one backfill, per model (and per experiment for runs), as text or JSON."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional


class State(str, Enum):
    ENRICHED = "already enriched"
    ENRICH = "would enrich"  # the plan; becomes WRITTEN, FAILED or STOPPED with --apply
    WRITTEN = "enriched"
    CANNOT = "cannot"
    FAILED = "failed"
    STOPPED = "not finished"  # interrupted before or while writing: a rerun completes it
    SKIPPED = "not selected"  # e.g. the source run is outside the --experiment selection


#: States after which the job has not done everything it was asked: exit code 1.
INCOMPLETE = frozenset({State.CANNOT, State.FAILED, State.STOPPED})


@dataclass
class Item:
    """One model version (``group`` = model name, ``key`` = version) or one run (experiment, run id)."""

    kind: str  # "version" or "run"
    group: str
    key: str
    state: State
    reason: Optional[str] = None
    writes: dict[str, Optional[str]] = field(default_factory=dict)  # None: the tag is removed
    written: int = 0
    partial: bool = False  # a version registered while its source could not be read

    def label(self) -> str:
        return f"version {self.key}" if self.kind == "version" else f"run {self.key}"

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"kind": self.kind, "state": self.state.value, "tags": self.writes}
        d["model" if self.kind == "version" else "experiment_id"] = self.group
        d["version" if self.kind == "version" else "run_id"] = self.key
        if self.reason:
            d["reason"] = self.reason
        if self.written:
            d["written"] = self.written
        if self.partial:
            d["partial"] = True
        return d


@dataclass
class Report:
    applied: bool
    items: list[Item] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # a whole model or experiment that could not be read
    notes: list[str] = field(default_factory=list)  # a selected name that needs nothing (a prompt)
    interrupted: bool = False
    requests: Optional[int] = None
    breaker: Optional[str] = None  # the last write failure, when that many in a row stopped the job

    def __post_init__(self):
        self._lock = threading.Lock()

    def add(self, item: Item) -> Item:
        with self._lock:
            self.items.append(item)
        return item

    def error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def note(self, message: str) -> None:
        with self._lock:
            self.notes.append(message)

    def totals(self, kind: str) -> Counter:
        return Counter(i.state for i in self.items if i.kind == kind)

    def breaker_line(self) -> str:
        """Why the job stopped early, and what it had done by then."""
        done = ", ".join(f"{self.totals(kind)[State.WRITTEN]} {kind}s" for kind in self._kinds()) or "nothing"
        return f"{self.breaker}; {done} enriched before it stopped"

    def tags_written(self) -> int:
        return sum(i.written for i in self.items)

    def partial(self) -> int:
        """Partial versions this job completes (or, in a dry run, would)."""
        return sum(1 for i in self.items if i.partial and i.state in (State.ENRICH, State.WRITTEN))

    def tags_planned(self) -> int:
        return sum(len(i.writes) for i in self.items if i.state in (State.ENRICH, State.WRITTEN))

    @property
    def complete(self) -> bool:
        return (
            not self.errors
            and not self.interrupted
            and not self.breaker
            and not any(i.state in INCOMPLETE for i in self.items)
        )

    # --- output ------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "applied": self.applied,
            "complete": self.complete,
            "interrupted": self.interrupted,
            "stopped_after_failures": self.breaker,
            "totals": {kind: {s.value: n for s, n in self.totals(kind).items()} for kind in self._kinds()},
            "tags_written": self.tags_written(),
            "partial_completed" if self.applied else "partial_to_complete": self.partial(),
            "errors": list(self.errors),
            "notes": list(self.notes),
            "items": [i.to_dict() for i in self.items if i.state is not State.ENRICHED],
        }

    def _kinds(self) -> list[str]:
        return [k for k in ("version", "run") if any(i.kind == k for i in self.items)]

    def to_text(self) -> str:
        lines: list[str] = []
        for kind in self._kinds():
            groups: dict[str, list[Item]] = {}
            for i in self.items:
                if i.kind == kind:
                    groups.setdefault(i.group, []).append(i)
            for group, items in groups.items():
                lines.append(_group_line(kind, group, items))
                todo = [i for i in items if i.state in (State.ENRICH, State.WRITTEN)]
                if todo:
                    verb = "enriched" if self.applied else "would enrich"
                    keys = ", ".join(i.key if kind == "version" else i.key[:12] for i in todo[:20])
                    more = f" and {len(todo) - 20} more" if len(todo) > 20 else ""
                    lines.append(f"  {verb}: {keys}{more} ({sum(len(i.writes) for i in todo)} tags)")
                for i in items:
                    if i.state in INCOMPLETE:
                        lines.append(f"  {i.label()}: {i.state.value}: {i.reason}")
        for kind in self._kinds():
            t = self.totals(kind)
            parts = ", ".join(f"{n} {s.value}" for s, n in sorted(t.items(), key=lambda x: list(State).index(x[0])))
            lines.append(f"total {kind}s: {sum(t.values())}: {parts}")
        if self.partial():
            done = "completed" if self.applied else "would be completed"
            lines.append(f"partial lineage (source unread at registration): {self.partial()} {done}")
        lines += self.notes
        if not self._kinds() and not self.notes:
            lines.append("nothing selected")
        if self.applied:
            lines.append(f"tags written: {self.tags_written()}")
        else:
            lines.append(f"dry run: nothing written ({self.tags_planned()} tags would be); add --apply to write")
        if self.interrupted:
            lines.append("interrupted: run the same command again to continue")
        if self.breaker:
            lines.append(f"stopped: {self.breaker_line()}")
        return "\n".join(lines) + "\n"


def _group_line(kind: str, group: str, items: list[Item]) -> str:
    c = Counter(i.state for i in items)
    parts = ", ".join(f"{n} {s.value}" for s, n in sorted(c.items(), key=lambda x: list(State).index(x[0])))
    what = f"model {group}" if kind == "version" else f"experiment {group}"
    noun = "version" if kind == "version" else "run"
    return f"{what}: {len(items)} {noun}{'s' if len(items) != 1 else ''}: {parts}"
