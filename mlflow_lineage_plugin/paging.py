"""Every page of an MLflow search, one page at a time.

MLflow's ``search_*`` calls answer one page (a ``PagedList``) and the token of the next; the plugin lists
experiments, registered models, model versions, runs and LoggedModels this way, all through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, Optional


def pages(search: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """``search(*args, **kwargs, page_token=...)`` from the first page until one carries no token.

    A generator: a caller that has what it needs stops early, and no page after it is asked for."""
    token: Optional[str] = None
    while True:
        page = search(*args, page_token=token, **kwargs)
        yield page
        token = getattr(page, "token", None)
        if not token:
            return
