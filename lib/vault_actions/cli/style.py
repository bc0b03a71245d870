"""Colour for people at a terminal: only on a TTY, never with ``NO_COLOR`` or ``TERM=dumb``.

Text is coloured by the marks it already carries (✅ green, ❌/⛔/🪦 red, ⚠ yellow, the
``→`` hint lines dim), so the words stay the same with or without colour.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

RESET = "\033[0m"
RED, GREEN, YELLOW, DIM, BOLD = "\033[31m", "\033[32m", "\033[33m", "\033[2m", "\033[1m"
_MARKS = (("❌", RED), ("⛔", RED), ("🪦", RED), ("✅", GREEN), ("🚀", GREEN), ("⚠", YELLOW))


def enabled(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is a terminal and neither NO_COLOR nor TERM=dumb says no."""
    env = os.environ if env is None else env
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _line(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith("→"):
        return f"{DIM}{line}{RESET}"
    for mark, colour in _MARKS:
        if stripped.startswith(mark):
            return f"{colour}{line}{RESET}"
    return line


def paint(text: str, stream: TextIO, env: Mapping[str, str] | None = None) -> str:
    """``text`` coloured line by line for ``stream``, or unchanged when colour is off."""
    if not enabled(stream, env):
        return text
    return "\n".join(_line(line) for line in text.split("\n"))


def label(word: str, colour: str, stream: TextIO, env: Mapping[str, str] | None = None) -> str:
    """``word`` (e.g. ``error:``) in bold ``colour`` for ``stream`` when colour is on."""
    return f"{BOLD}{colour}{word}{RESET}" if enabled(stream, env) else word
