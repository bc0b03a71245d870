"""The ``vault`` command line: a lazy registry of sub-commands and one error handler."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from vault_actions import __version__
from vault_actions.cli.commands import Result
from vault_actions.errors import VaultActionsError

# name -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "check a vault.yml; non-zero exit when invalid"),
    "version": ("version", "compute the next release version from Conventional Commits"),
    "build": ("build", "build, zip, tag and lock every service in the vault"),
    "deploy": ("deploy", "deploy a release from the vault to one environment"),
    "smoke": ("smoke", "smoke-test a release in one environment"),
    "approve": ("gate", "record an approval of a release for a gated environment"),
    "reject": ("gate", "record a rejection: the release dies in that environment"),
    "status": ("status", "show each release's journey from the ledger"),
    "conclude": ("conclude", "record how every stage of a release run ended"),
    "graveyard": ("graveyard", "render the release graveyard (Mermaid, Markdown, JSON)"),
    "dr-sync": ("dr_sync", "copy a release live in PROD to the DR region and deploy it"),
    "setup-environments": ("environments", "create the repository's GitHub environments"),
    "init": ("init", "write the workflow templates and a starter vault.yml"),
    "doctor": ("doctor", "check that a live vault keeps its promises"),
    "demo": ("demo", "play the whole pipeline on an embedded AWS"),
    "action": ("action", argparse.SUPPRESS),
}

log = logging.getLogger("vault_actions")


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print a JSON result on stdout")
    common.add_argument(
        "--config", default="vault.yml", metavar="PATH", help="vault.yml path (default: vault.yml)"
    )
    common.add_argument("-v", "--verbose", action="store_true", help="debug logs, tracebacks")
    return common


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"vault_actions.cli.commands.{COMMANDS[name][0]}")


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    """The parser; only the selected sub-command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="vault",
        description="Build once, store the bytes once, promote those exact bytes everywhere.",
    )
    parser.add_argument("--version", action="version", version=f"vault-actions {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common()
    for name, (_, help_text) in COMMANDS.items():
        kwargs = {"help": help_text} if help_text != argparse.SUPPRESS else {}
        sub = subparsers.add_parser(name, parents=[common], **kwargs)  # type: ignore[arg-type]
        if name == selected:
            _command_module(name).configure(sub)
    return parser


def _selected(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def _debug(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "verbose", False)) or os.environ.get("RUNNER_DEBUG") == "1"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vault`` and ``python -m vault_actions``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_selected(argv))
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if _debug(args) else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    if not _debug(args):
        for noisy in ("botocore", "boto3", "urllib3", "github"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        result: Result = _command_module(args.command).run(args)
    except VaultActionsError as exc:
        return _report(exc, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from vault_actions.integrations import aws

        known = aws.translate(exc)
        if known is None:
            raise
        return _report(known, args)
    if args.json:
        print(json.dumps(result.data, indent=2, default=str))
    elif result.text:
        print(result.text)
    return result.exit_code


def _report(exc: VaultActionsError, args: argparse.Namespace) -> int:
    """Render an error once: an annotation in Actions, a line in a terminal; exit 1."""
    from vault_actions.cli import gha

    if _debug(args):
        log.exception("traceback")
    gha.error(str(exc), title=exc.title)
    if args.json:
        payload = {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        print(json.dumps({"error": payload}, indent=2))
    return 1
