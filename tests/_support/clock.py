"""Pins the clock both engines read: transformers' `strftime_now` calls `datetime.now()` from its
module, fastmask reads `FASTMASK_NOW` (which also pins the drop-in `apply_chat_template`)."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from fastmask.conformance.corpus import PINNED_NOW


class PinnedDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime.datetime:
        return PINNED_NOW


@contextlib.contextmanager
def pinned_clock() -> Iterator[None]:
    """Within it, both engines read PINNED_NOW."""
    from transformers.utils import chat_template_utils

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chat_template_utils, "datetime", PinnedDatetime)
        patch.setenv("FASTMASK_NOW", PINNED_NOW.isoformat())
        yield
