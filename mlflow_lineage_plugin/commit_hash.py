"""The one rule for what a git commit hash looks like, shared by every module that takes or reads one.

Git names objects with SHA-1 (40 hex characters) or SHA-256 (64); people abbreviate both to as few as
4. A reader of ``.git`` files wants a full name; a setting or a search accepts an abbreviation too.
"""

from __future__ import annotations

import re
from typing import Optional

_HEX = re.compile(r"[0-9a-fA-F]{4,64}")
FULL_LENGTHS = (40, 64)
RULE = "4 to 64 hex characters"


def is_commit(text: Optional[str], *, full: bool = False) -> bool:
    """``text`` names a commit: an abbreviation, or with ``full`` only a whole SHA-1 or SHA-256 name."""
    return bool(text and _HEX.fullmatch(text)) and (not full or len(text or "") in FULL_LENGTHS)
