"""The RunContextProvider (placeholder until the provider lands)."""

from __future__ import annotations


class LineageRunContext:
    def in_context(self) -> bool:
        return False

    def tags(self) -> dict:
        return {}
