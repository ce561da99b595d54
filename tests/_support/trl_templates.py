"""The real chat templates the differential suite runs: TRL's `trl/chat_templates/*.jinja`,
found by `fastmask.conformance.templates` (TRL is installed without its dependencies and never
imported)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastmask.conformance.templates import read_templates, trl_template_dir

TRAINING_SUFFIX = "_training"


@cache
def template_dir() -> Path | None:
    """The folder holding TRL's `*.jinja` files, or None when TRL is not installed."""
    return trl_template_dir()


@cache
def all_templates() -> tuple[tuple[str, str], ...]:
    """Every TRL template as (name, source), sorted by name; empty when TRL is missing."""
    folder = template_dir()
    return tuple(read_templates(folder).items()) if folder else ()


@cache
def training_templates() -> tuple[tuple[str, str], ...]:
    """The generation-tagged `*_training.jinja` templates as (name, source), sorted by name."""
    return tuple((name, source) for name, source in all_templates() if name.endswith(TRAINING_SUFFIX))


def template(name: str) -> str:
    """One template's source by its file stem, e.g. `template("qwen3_training")`."""
    for stem, source in all_templates():
        if stem == name:
            return source
    raise KeyError(f"no TRL template named {name!r} in {template_dir()}")
