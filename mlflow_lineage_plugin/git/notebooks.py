"""A patch over the size cap, cut down to what fits, code first: every changed file that is not a
Jupyter notebook, then each changed notebook's cell sources with the outputs and execution counts of
the working tree left out (the cells keep the commit's outputs where they had some, so the notebook's
part of the patch is its source changes alone). What was left out is said per notebook.

A re-rendered plot makes a notebook's diff hundreds of kilobytes; without this, one image pushed a
one-line ``.py`` fix beside it out of the kept patch. Rewriting a notebook is only safe when its JSON
is written the way ``json.dumps`` writes it (as Jupyter does): any other layout would make the whole
file differ, so such a notebook is left out whole.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Optional

from mlflow_lineage_plugin.git import process

SUFFIX = ".ipynb"


@dataclass
class Fitted:
    """The patch that fits, and what it leaves out of each notebook."""

    patch: bytes
    outputs_left_out: dict[str, int] = field(default_factory=dict)  # notebook -> outputs not kept
    notebooks_left_out: list[str] = field(default_factory=list)  # notebooks whose changes did not fit


def is_notebook(path: str) -> bool:
    return path.lower().endswith(SUFFIX)


def fit(
    exe: str,
    root: str,
    diff: list[str],
    commit: str,
    code_pathspecs: list[str],
    notebooks: list[tuple[str, str]],
    max_bytes: int,
    deadline: float,
    env: Optional[dict[str, str]],
) -> Optional[Fitted]:
    """``diff``: the pinned ``git diff`` command; ``code_pathspecs``: every change but the notebooks';
    ``notebooks``: (status letter, path) of each changed notebook. None when even the code does not
    fit or git did not answer: nothing is kept then."""
    code = process.run(exe, [*diff, commit, *code_pathspecs], root, deadline, env)
    if code is None or code[0] != 0 or len(code[1]) > max_bytes:
        return None
    out = Fitted(code[1])
    for status, path in sorted(notebooks, key=lambda n: n[1]):
        piece = _sources_patch(exe, root, diff, commit, status, path, deadline, env)
        if piece is not None and len(out.patch) + len(piece[0]) <= max_bytes:
            out.patch += piece[0]
            if piece[1]:
                out.outputs_left_out[path] = piece[1]
        else:
            out.notebooks_left_out.append(path)
    return out


def _sources_patch(
    exe: str,
    root: str,
    diff: list[str],
    commit: str,
    status: str,
    path: str,
    deadline: float,
    env: Optional[dict[str, str]],
) -> Optional[tuple[bytes, int]]:
    """The notebook's patch with its working tree's outputs left out, and how many were; None when it
    cannot be made (unreadable, not JSON as ``json.dumps`` writes it, git failed)."""
    if status not in ("M", "A"):  # deleted (or a type change): the change is the whole file, as git says
        whole = process.run(exe, [*diff, commit, "--", f":(literal){path}"], root, deadline, env)
        return None if whole is None or whole[0] != 0 else (whole[1], 0)
    try:
        with open(os.path.join(root, path), "rb") as fh:
            new_text = fh.read()
    except OSError:
        return None
    old_text = b""
    if status == "M":
        old = process.run(exe, ["cat-file", "blob", f"{commit}:{path}"], root, deadline)
        if old is None or old[0] != 0:
            return None
        old_text = old[1]
    reduced = _without_outputs(new_text, old_text)
    if reduced is None:
        return None
    text, left_out = reduced
    with tempfile.TemporaryDirectory(prefix="mlflow-lineage-nb-") as tmp:
        old_path = os.path.join("a", path) if status == "M" else os.devnull
        for rel, data in (("a", old_text), ("b", text)):
            if rel == "a" and status != "M":
                continue
            full = os.path.join(tmp, rel, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as fh:
                fh.write(data)
        args = [*diff, "--no-index", "--no-prefix", "--", old_path, os.path.join("b", path)]
        done = process.run(exe, args, tmp, deadline)
    if done is None or done[0] not in (0, 1):
        return None
    patch = done[1]
    if not patch:
        return b"", left_out
    first, rest = patch.split(b"\n", 1)
    quoted = b'"' in first
    if quoted:
        return None  # an unusual name: git quotes it, and the header would need the same quoting
    name = path.encode("utf-8", "surrogateescape")
    return b"diff --git a/" + name + b" b/" + name + b"\n" + rest, left_out


_LAYOUTS = [(indent, ascii_only) for indent in (1, 2, 4) for ascii_only in (False, True)]


def _without_outputs(new_text: bytes, old_text: bytes) -> Optional[tuple[bytes, int]]:
    """The working tree's notebook with each code cell's outputs and execution count taken from the
    commit's same cell (by cell id, else by position), or emptied for a new cell; and how many outputs
    that left out. None when the notebook is not JSON laid out as ``json.dumps`` lays it out."""
    try:
        new = json.loads(new_text)
        old = json.loads(old_text) if old_text else {}
    except ValueError:
        return None
    layout = next((lay for lay in _LAYOUTS if _dump(new, *lay, new_text.endswith(b"\n")) == new_text), None)
    if layout is None or not isinstance(new, dict) or not isinstance(new.get("cells"), list):
        return None
    old_cells: list[Any] = old["cells"] if isinstance(old, dict) and isinstance(old.get("cells"), list) else []
    by_id = {c.get("id"): c for c in old_cells if isinstance(c, dict) and c.get("id")}
    left_out = 0
    for i, cell in enumerate(new["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        was: Any = by_id.get(cell.get("id")) if cell.get("id") else None
        if was is None and not cell.get("id") and i < len(old_cells):
            was = old_cells[i]
        was = was if isinstance(was, dict) and was.get("cell_type") == "code" else {}
        outputs = was.get("outputs", [])
        if cell.get("outputs", []) != outputs:
            left_out += len(cell.get("outputs") or [])
        if "outputs" in cell:
            cell["outputs"] = outputs
        if "execution_count" in cell:
            cell["execution_count"] = was.get("execution_count")
    return _dump(new, *layout, new_text.endswith(b"\n")), left_out


def _dump(nb: Any, indent: int, ascii_only: bool, newline: bool) -> bytes:
    text = json.dumps(nb, indent=indent, ensure_ascii=ascii_only)
    return (text + ("\n" if newline else "")).encode("utf-8")


def count_files(patch: bytes) -> int:
    return len(re.findall(rb"^diff --git ", patch, re.M))
