"""Where chat templates come from: a folder of `*.jinja` files, by default TRL's.

TRL is never imported (it pulls in torch): its template folder is found through the installed
distribution's metadata or, failing that, its import spec, which locates the package without
executing it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path


def trl_template_dir() -> Path | None:
    """The folder holding TRL's `chat_templates/*.jinja`, or None when TRL is not installed."""
    try:
        for file in importlib.metadata.files("trl") or ():
            if file.parent.name == "chat_templates" and file.suffix == ".jinja":
                return Path(str(file.locate())).parent
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "chat_templates"
        if folder.is_dir():
            return folder
    return None


def read_templates(folder: str | Path) -> dict[str, str]:
    """Every `*.jinja` file of `folder` as {file stem: source}, sorted by name.

    Files are read as bytes and decoded, so a `\\r\\n` in a template reaches both engines unchanged.
    """
    paths = sorted(Path(folder).glob("*.jinja"))
    return {path.stem: path.read_bytes().decode("utf-8") for path in paths}
