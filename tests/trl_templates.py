"""The real chat templates the differential suite runs: TRL's `trl/chat_templates/*.jinja`.

TRL is installed without its dependencies, so it is never imported: the template files are
found through the installed distribution's metadata (or, failing that, its import spec,
which locates the package without executing it).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from functools import lru_cache
from pathlib import Path

TRAINING_SUFFIX = "_training"


@lru_cache(maxsize=None)
def template_dir() -> Path | None:
    """The folder holding TRL's `*.jinja` files, or None when TRL is not installed."""
    try:
        for file in importlib.metadata.files("trl") or ():
            if file.parent.name == "chat_templates" and file.suffix == ".jinja":
                return Path(file.locate()).parent
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec("trl")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "chat_templates"
        if folder.is_dir():
            return folder
    return None


def _read(paths: list[Path]) -> list[tuple[str, str]]:
    # Read as bytes and decode, so a `\r\n` in a template file reaches both engines unchanged.
    return [(path.stem, path.read_bytes().decode("utf-8")) for path in sorted(paths)]


@lru_cache(maxsize=None)
def all_templates() -> tuple[tuple[str, str], ...]:
    """Every TRL template as (name, source), sorted by name; empty when TRL is missing."""
    folder = template_dir()
    return tuple(_read(list(folder.glob("*.jinja")))) if folder else ()


@lru_cache(maxsize=None)
def training_templates() -> tuple[tuple[str, str], ...]:
    """The generation-tagged `*_training.jinja` templates as (name, source), sorted by name."""
    return tuple((name, source) for name, source in all_templates() if name.endswith(TRAINING_SUFFIX))


def template(name: str) -> str:
    """One template's source by its file stem, e.g. `template("qwen3_training")`."""
    for stem, source in all_templates():
        if stem == name:
            return source
    raise KeyError(f"no TRL template named {name!r} in {template_dir()}")
