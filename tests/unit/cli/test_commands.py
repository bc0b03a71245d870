"""Commands are thin: parse → build clients → call one use case → render.

Read from the source (AST), so a command that grows its own ledger writes or borrows
another command's internals fails here, not in review.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import vault_actions
from vault_actions.cli.commands import action
from vault_actions.cli.main import COMMANDS

PACKAGE = Path(vault_actions.__file__).resolve().parent
MODULES = sorted((PACKAGE / "cli" / "commands").glob("*.py"))
# The one module that appends each event kind to the ledger (docs/architecture.md).
RECORDERS = {
    "build/provenance.py",
    "deliver/outcomes.py",
    "deliver/smoke_release.py",
    "promotion/gates.py",
    "report/verdicts.py",
}


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def ledger_writes(path: Path) -> list[int]:
    """Lines calling ``<something>.record(...)`` with a version first (a ledger append)."""
    return [
        node.lineno for node in ast.walk(tree(path))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "record" and len(node.args) >= 3
    ]


def test_only_the_recording_modules_append_to_the_ledger() -> None:
    writers = {
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
        if "demo" not in path.parts and ledger_writes(path)
    }
    assert writers == RECORDERS


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_a_command_never_writes_the_ledger_itself(path: Path) -> None:
    assert ledger_writes(path) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_a_command_borrows_nothing_from_another_command(path: Path) -> None:
    borrowed = [
        node.module for node in ast.walk(tree(path))
        if isinstance(node, ast.ImportFrom) and node.module
        and node.module.startswith("vault_actions.cli.commands.")
    ]
    assert borrowed == []


def test_every_registered_command_has_configure_and_run() -> None:
    for name, command in COMMANDS.items():
        module = importlib.import_module(f"vault_actions.cli.commands.{command.module}")
        assert callable(module.configure) and callable(module.run), name


def test_every_action_has_its_entry_point() -> None:
    for name, module_name in action.ACTIONS.items():
        module = importlib.import_module(f"vault_actions.cli.commands.{module_name}")
        assert callable(module.run_action), name
