"""User-supplied text made safe for where it lands: a terminal, Markdown, a Mermaid label, HTML."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

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


def html_text(text: object, limit: int | None = None) -> str:
    """User text for HTML or SVG text and attribute values (quoted): one line, escaped."""
    line = plain(str(text))
    line = shorten(line, limit) if limit else line
    return html.escape(line, quote=True)


def html_url(url: str | None) -> str | None:
    """An http(s) URL escaped for an ``href`` attribute, or None for any other scheme."""
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return None
    return html.escape(plain(url), quote=True)
