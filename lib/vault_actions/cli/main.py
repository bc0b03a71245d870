"""The ``vault`` command line: a lazy registry of sub-commands and one error handler."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from vault_actions import context
from vault_actions.cli import style
from vault_actions.cli.commands import Result
from vault_actions.config import DEFAULT_CONFIG
from vault_actions.errors import EXIT_CODES, ExitCode, Interrupted, VaultActionsError


@dataclass(frozen=True)
class Command:
    """A sub-command: its module, its one-line purpose, an example, when it fails."""

    module: str
    purpose: str
    example: str
    fails: str = "the error printed on stderr says what to change"
    config: bool = True  # reads vault.yml (offers --config)


# Modules are imported only when their command runs: `vault --help` stays fast.
COMMANDS: dict[str, Command] = {
    "validate": Command("validate", "check a vault.yml against the schema and its own rules, "
                        "and the generated workflows against it",
                        "vault validate --config vault.yml",
                        "vault.yml is invalid, or a generated workflow no longer follows it"),
    "version": Command("version", "compute the next release version from Conventional Commits",
                       "vault version --repo ."),
    "build": Command("build", "build, zip, tag and lock every service in the vault",
                     "vault build --push", "a build, the zips or the vault refused"),
    "deploy": Command("deploy", "deploy a release from the vault to one environment",
                      "vault deploy --env qa --version 1.4.0",
                      "the promotion is refused or a function did not update"),
    "smoke": Command("smoke", "smoke-test a release in one environment",
                     "vault smoke --env qa --version 1.4.0",
                     "a check failed: smoke_failed is recorded and the version is dead"),
    "approve": Command("gate", "record an approval of a release for a gated environment",
                       "vault approve --env uat --version 1.4.0",
                       "the approval is refused (not an approver, the release is dead, or "
                       "a local decision that vault.yml does not allow)"),
    "reject": Command("gate", "record a rejection: the release dies in that environment",
                      "vault reject --env uat --version 1.4.0 --reason 'EU prices in USD'"),
    "verify": Command("verify", "check every ledger event's proof of who wrote it and its "
                      "authority", "vault verify --json",
                      "an event does not hold, or one counts without proof"),
    "ledger": Command("ledger", "rebuild (reindex) or check the ledger's live index",
                      "vault ledger reindex", "check: the index is stale (reindex repairs it)"),
    "status": Command("status", "show each release's journey from the ledger",
                      "vault --json status --version 1.4.0"),
    "conclude": Command("conclude", "record how every stage of a release run ended",
                        "vault conclude --version 1.4.0 --stages '{\"qa\": {\"result\": "
                        "\"failure\"}}'"),
    "graveyard": Command("graveyard", "render the release graveyard (Mermaid, Markdown, JSON)",
                         "vault graveyard --output graveyard.md --last 10"),
    "evidence": Command("evidence", "export the evidence of every change to an environment",
                        "vault evidence --since 2026-01-01 --format csv --output prod.csv",
                        "a change in the period lacks an independent, verified approval"),
    "metrics": Command("metrics", "delivery metrics: frequency, lead time, failure rate, restore",
                       "vault --json metrics --since 2026-01-01"),
    "report": Command("report", "write a self-contained HTML report (graveyard, evidence, "
                      "metrics)", "vault report --html report.html --since 2026-01-01"),
    "rollback": Command("rollback", "emergency: put an environment back on a version that "
                        "passed there", "vault rollback --env prod --reason 'checkout 5xx'",
                        "no version to go back to, or an alias did not move"),
    "dr-sync": Command("dr_sync", "copy a release live in PROD to the DR region and deploy it",
                       "vault dr-sync --version 1.4.0"),
    "setup-environments": Command(
        "environments", "create the repository's GitHub environments from vault.yml",
        "vault setup-environments --repo acme/shop --dry-run"),
    "init": Command("init", "write a vault.yml for this repository and the workflows generated "
                    "from it (--update: regenerate the workflows)",
                    "vault init --role-arn-prefix arn:aws:iam::123456789012:role/vault-"),
    "doctor": Command("doctor", "check that a live vault keeps its promises",
                      "vault doctor --config vault.yml", "a promise is broken (see the ❌ lines)"),
    "demo": Command("demo", "play the whole pipeline on an embedded AWS",
                    "vault demo --yes", config=False),
    "action": Command("action", argparse.SUPPRESS, "vault action build"),
}

log = logging.getLogger("vault_actions")


def _flags(parser: argparse.ArgumentParser, *, config: bool, top: bool) -> None:
    """The global flags. On a sub-command their default is SUPPRESS, so that a flag given
    before the sub-command (``vault --json status``) is not reset by the sub-parser."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser.add_argument("--json", action="store_true", default=default(False),
                        help="print a JSON result on stdout")
    if config:
        parser.add_argument("--config", default=default(DEFAULT_CONFIG), metavar="PATH",
                            help=f"vault.yml path (default: {DEFAULT_CONFIG})")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="debug logs, tracebacks")


def _epilog(command: Command) -> str:
    """An example, the exit codes (one table for every command) and when this one fails."""
    return f"example:\n  {command.example}\n\n{EXIT_CODES}\n\non failure: {command.fails}"


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"vault_actions.cli.commands.{COMMANDS[name].module}")


class _Version(argparse.Action):
    """``--version``: the installed version, read only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        import vault_actions  # the version is read on demand

        parser.exit(message=f"vault-actions {vault_actions.__version__}\n")


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    """The parser; only the selected sub-command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="vault",
        description="Build once, store the bytes once, promote those exact bytes everywhere.",
        epilog="Global flags (--json, --config, -v) go before or after the sub-command. "
        "`vault COMMAND --help` shows an example.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    _flags(parser, config=True, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        kwargs: dict[str, Any] = {}
        if command.purpose != argparse.SUPPRESS:
            kwargs = {"help": command.purpose, "description": f"{command.purpose}.",
                      "epilog": _epilog(command)}
        sub = subparsers.add_parser(
            name, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
        )
        _flags(sub, config=command.config, top=False)
        if name == selected:
            _command_module(name).configure(sub)
    return parser


def _selected(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv``, skipping global flags and --config's value."""
    args = iter(argv)
    for arg in args:
        if arg == "--config":
            next(args, None)
        elif not arg.startswith("-"):
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
        return ExitCode.USAGE
    from vault_actions.cli import gha

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(gha.NeutralFormatter("%(message)s"))
    logging.basicConfig(level=logging.DEBUG if _debug(args) else logging.INFO, handlers=[handler])
    if not _debug(args):
        for noisy in ("botocore", "boto3", "urllib3", "github"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    with gha.commands_stopped(), _signals_cancel():
        return _run(args)


@contextlib.contextmanager
def _signals_cancel() -> Iterator[None]:
    """SIGINT/SIGTERM (GitHub's cancel sends both) set ``context.cancellation()``: a deploy
    then puts back the aliases it moved and exits 130/143; elsewhere they stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    cancel = context.reset_cancellation()

    def handle(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if not cancel.request(name):
            raise Interrupted(name)
        log.warning("%s received: starting no more updates; putting back what was changed", name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(args: argparse.Namespace) -> int:
    try:
        result: Result = _command_module(args.command).run(args)
    except VaultActionsError as exc:
        return _report(exc, args)
    except KeyboardInterrupt as exc:
        print("interrupted", file=sys.stderr)
        return exc.exit_code if isinstance(exc, Interrupted) else ExitCode.SIGINT
    except Exception as exc:
        from vault_actions.integrations import aws

        known = aws.translate(exc)
        if known is None:
            raise
        return _report(known, args)
    if args.json:
        print(json.dumps(result.data, indent=2, default=str))
    elif result.text:
        print(style.paint(result.text, sys.stdout))
    return result.exit_code


def _report(exc: VaultActionsError, args: argparse.Namespace) -> int:
    """Render an error once: an annotation in Actions, a line in a terminal; its exit code."""
    from vault_actions.cli import gha

    if _debug(args):
        log.exception("traceback")
    gha.error(str(exc), title=exc.title)
    if args.json:
        payload = {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        print(json.dumps({"error": payload}, indent=2))
    return exc.exit_code
