"""The thin layer for GitHub Actions runner I/O.

Outputs, step summaries, masks, groups and annotations are written here and nowhere
else. Outside Actions every function is a harmless no-op (or prints a plain line).

Text from users and repositories (gate reasons, commit messages, smoke output, build
logs, error messages quoting values) must never act as a workflow command. So a command
runs inside ``commands_stopped()``: the runner ignores workflow commands until a random
token it cannot guess; this module's own commands step out of that block and back in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import sys
import threading
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from vault_actions.cli import style
from vault_actions.context import in_actions
from vault_actions.errors import ConfigError

T = TypeVar("T")


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


_stopped: list[str] = []  # the token of the current stop-commands block, if any
_lock = threading.Lock()
# What the runner reads as a command: "::name…::" or the legacy "##[name…]", after spaces.
_COMMAND_START = re.compile(r"^(\s*)(::|##\[)", re.MULTILINE)


def _command(name: str, message: str, **props: str) -> None:
    rendered = ",".join(f"{k}={_escape_property(v)}" for k, v in props.items() if v)
    sep = " " if rendered else ""
    line = f"::{name}{sep}{rendered}::{_escape_data(message)}\n"
    with _lock:
        if _stopped:
            token = secrets.token_hex(16)
            line = f"::{_stopped[0]}::\n{line}::stop-commands::{token}\n"
            _stopped[0] = token
        sys.stdout.write(line)
        sys.stdout.flush()


def neutralise(text: str) -> str:
    """``text`` with no line the runner would read as a workflow command ("» ::…")."""
    return _COMMAND_START.sub(r"\1» \2", text)


class NeutralFormatter(logging.Formatter):
    """Log lines with workflow commands neutralised (``neutralise``)."""

    def format(self, record: logging.LogRecord) -> str:
        return neutralise(super().format(record))


@contextlib.contextmanager
def commands_stopped() -> Iterator[None]:
    """In Actions, make the runner ignore workflow commands in everything printed inside
    (``::stop-commands::<random token>`` … ``::<token>::``); a no-op elsewhere."""
    if not in_actions() or _stopped:
        yield
        return
    with _lock:
        _stopped.append(secrets.token_hex(16))
        sys.stdout.write(f"::stop-commands::{_stopped[0]}\n")
        sys.stdout.flush()
    try:
        yield
    finally:
        with _lock:
            sys.stdout.flush()
            sys.stdout.write(f"::{_stopped.pop()}::\n")
            sys.stdout.flush()


def error(message: str, title: str = "") -> None:
    """Annotate an error (``::error title=…::``) in Actions, or print it to stderr."""
    if in_actions():
        _command("error", message, title=title)
    else:
        print(f"{style.label('error:', style.RED, sys.stderr)} {message}", file=sys.stderr)


def warning(message: str, title: str = "") -> None:
    """Annotate a warning in Actions, or print it to stderr."""
    if in_actions():
        _command("warning", message, title=title)
    else:
        print(f"{style.label('warning:', style.YELLOW, sys.stderr)} {message}", file=sys.stderr)


def mask(value: str) -> None:
    """Ask the runner to mask a secret value in logs."""
    if in_actions() and value:
        for line in value.splitlines():
            _command("add-mask", line)


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    """Fold the enclosed log lines under ``title`` in Actions."""
    if not in_actions():
        yield
        return
    _command("group", title)
    try:
        yield
    finally:
        _command("endgroup", "")


def _append(env_name: str, text: str) -> bool:
    path = os.environ.get(env_name)
    if not path:
        return False
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(text)
    return True


def set_output(name: str, value: str) -> None:
    """Write one step output; multi-line values use a random heredoc delimiter."""
    if "\n" in name or "=" in name or not name:
        raise ValueError(f"invalid output name {name!r}")
    if "\n" in value or "\r" in value:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        _append("GITHUB_OUTPUT", f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    else:
        _append("GITHUB_OUTPUT", f"{name}={value}\n")


def add_summary(markdown: str) -> None:
    """Append Markdown to the job's step summary (ignored outside Actions)."""
    _append("GITHUB_STEP_SUMMARY", markdown.rstrip("\n") + "\n\n")


def parse_bool(name: str, value: str) -> bool:
    """Parse an action boolean strictly: only 'true' or 'false'."""
    if value in ("true", "false"):
        return value == "true"
    raise ConfigError(
        f"input '{name}' is {value!r}", "set it to the string 'true' or 'false'"
    )


def parse_int(name: str, value: str, minimum: int = 0, default: int | None = None) -> int:
    """Parse a whole number of at least ``minimum`` (digits only, no sign)."""
    if value.isdigit() and int(value) >= minimum:
        return int(value)
    default_text = f" (default: {default})" if default is not None else ""
    raise ConfigError(
        f"input '{name}' is {value!r}", f"use a whole number of {minimum} or more{default_text}"
    )


def parse_json(name: str, value: str, hint: str = "pass a JSON value") -> Any:
    """Parse a JSON input (``toJSON(...)`` of the workflow, usually)."""
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ConfigError(f"input '{name}' is not JSON ({exc})", hint) from None


def input_name(field: dataclasses.Field[Any]) -> str:
    """The action's name of a field: ``push_tag`` is the ``push-tag`` input."""
    return field.name.replace("_", "-")


def parse_input(field: dataclasses.Field[Any], kind: Any, raw: str) -> Any:
    """One ``INPUT_*`` value parsed to the field's type: bool, int, JSON (dict/list), str."""
    name = input_name(field)
    if kind is bool:
        return parse_bool(name, raw)
    if kind is int:
        default = field.default if isinstance(field.default, int) else None
        return parse_int(name, raw, field.metadata.get("minimum", 0), default)
    if typing.get_origin(kind) in (dict, list):
        if not raw:  # an empty input: the field's default
            return field.default_factory() if callable(field.default_factory) else field.default
        return parse_json(name, raw, field.metadata.get("hint", "pass a JSON value"))
    return raw


def read_inputs(cls: type[T], env: Mapping[str, str] | None = None) -> T:
    """Build a frozen inputs dataclass from ``INPUT_<NAME>`` variables, parsed once.

    Field ``push_tag`` reads ``INPUT_PUSH_TAG`` (the action's ``push-tag`` input, which
    the action's step passes through ``env:``). Values are parsed to the field's type:
    bools strictly, ints as whole numbers (``metadata["minimum"]``), dicts and lists as
    JSON. An absent variable keeps the dataclass default (the one the action.yml repeats).
    """
    env = env if env is not None else os.environ
    kinds = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        raw = env.get(f"INPUT_{field.name.upper()}")
        if raw is not None:
            values[field.name] = parse_input(field, kinds[field.name], raw.strip())
    return cls(**values)
