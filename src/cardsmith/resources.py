"""Files shipped inside the package: card CSS and templates, the preview's CSS and scripts."""

from __future__ import annotations

import functools
from importlib.resources import files


@functools.cache
def read(name: str) -> str:
    """The text of templates/NAME (a path with '/' for subfolders)."""
    return files("cardsmith").joinpath("templates", *name.split("/")).read_text("utf-8")
