"""Exceptions as TFX and Beam raise them: the real cause sits several causes deep."""
from __future__ import annotations

from typing import List


def chain(error: BaseException) -> List[str]:
    """Messages of `error` and of each cause / context under it, outermost first."""
    messages, seen = [], error
    while seen is not None:
        messages.append(str(seen) or repr(seen))
        seen = seen.__cause__ or seen.__context__
    return messages


def innermost(error: BaseException, limit: int = 4000) -> str:
    """The deepest message (what the failing executor said), at most `limit` chars."""
    message = chain(error)[-1]
    return message if len(message) < limit else message[:limit] + " ..."
