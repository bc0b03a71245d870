"""User-supplied text made safe for where it lands: a terminal, Markdown, a Mermaid label."""

from __future__ import annotations

import re

REASON_CHARS = 80

# Characters that could end a Mermaid label, open markup, or break out of a code fence.
_MERMAID_UNSAFE = set('"#&<>[](){}|;`%\\=')
_MARKDOWN_UNSAFE = set("\\|`*_[]~")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """One line of text safe for a terminal: whitespace collapsed, control characters gone."""
    return _CONTROL.sub("", " ".join(str(text).split()))


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 file``, ``2 files`` (``nouns`` for an irregular plural)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def mermaid_text(text: str, limit: int = REASON_CHARS) -> str:
    """User text for inside a quoted Mermaid label: one line, entity-coded specials."""
    line = shorten(plain(text), limit)
    return "".join(f"#{ord(c)};" if c in _MERMAID_UNSAFE else c for c in line)


def markdown_cell(text: str, limit: int | None = None) -> str:
    """User text for a Markdown table cell: one line, no pipes, no HTML, no markup."""
    line = plain(text)
    line = shorten(line, limit) if limit else line
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join(f"\\{c}" if c in _MARKDOWN_UNSAFE else c for c in line)


