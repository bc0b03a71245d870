"""One module per ``vault`` sub-command: ``configure(parser)`` and ``run(args) -> Result``.

Command modules import boto3 and PyGithub only inside ``run`` so that ``vault --help``
stays fast. A module that backs a GitHub Action also has ``run_action() -> int``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault_actions.errors import ConfigError

if TYPE_CHECKING:
    from vault_actions.config import Config
    from vault_actions.report.audit import Audit
    from vault_actions.store.ledger import Ledger


@dataclass(frozen=True)
class Result:
    """What a command returns: data for ``--json``, text for people, an exit code."""

    data: Any
    text: str
    exit_code: int = 0


def open_ledger(cfg: Config) -> Ledger:
    """The ledger in the vault bucket of ``cfg``, with an S3 client for the vault's region."""
    from vault_actions.integrations import aws
    from vault_actions.store.ledger import Ledger

    return Ledger(aws.client("s3", cfg.vault.region), cfg.vault.bucket, cfg.vault.ledger_prefix)


def audit_arguments(parser: argparse.ArgumentParser, *, since_required: bool = False) -> None:
    """``--since``, ``--until``, ``--env`` and ``--repo``: shared by evidence, metrics, report."""
    parser.add_argument("--since", required=since_required, metavar="DATE",
                        help="start of the period (2026-01-01 or an ISO-8601 time, UTC)"
                        + ("" if since_required else "; default: the first event"))
    parser.add_argument("--until", metavar="DATE",
                        help="end of the period, inclusive for a date (default: now)")
    parser.add_argument("--env", metavar="ENV",
                        help="the environment audited (default: the last of the promotion order)")
    parser.add_argument("--repo", default=".", metavar="DIR",
                        help="git checkout whose release tags give the commits when the "
                        "ledger does not record them (default: .)")


def load_audit(args: argparse.Namespace) -> Audit:
    """Read the ledger once and derive the overview, the evidence and the metrics."""
    from vault_actions import config
    from vault_actions.report.audit import audit, final_environment
    from vault_actions.report.period import Period

    cfg = config.load(args.config)
    period = Period.parse(args.since, args.until)
    repo = Path(args.repo)
    return audit(cfg, open_ledger(cfg).events(), environment=args.env or final_environment(cfg),
                 period=period, now=datetime.now(UTC), repo=repo if repo.is_dir() else None)


def write(path: str | None, text: str, what: str) -> str | None:
    """Write ``text`` to ``path`` (None: nothing written); the line saying so."""
    if not path:
        return None
    target = Path(path)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}",
                          "pass a writable file path") from None
    return f"wrote {what} to {target}"




def count(value: str) -> int:
    """A number of versions for ``--limit`` (0: all)."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of versions (0 means all)")
    return int(value)


def day(value: str) -> datetime:
    """``--since``: a date or an ISO time (UTC unless it says otherwise)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date: use YYYY-MM-DD or an ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_window(parser: argparse.ArgumentParser, *names: str) -> None:
    """``--limit`` (newest N versions) and ``--since DATE``: what status and the graveyard
    read (only the shown versions' events)."""
    from vault_actions.report.status import DEFAULT_LIMIT

    parser.add_argument(
        *names, dest="limit", type=count, default=DEFAULT_LIMIT, metavar="N",
        help=f"show the newest N versions (default: {DEFAULT_LIMIT}; 0: all)")
    parser.add_argument("--since", type=day, metavar="DATE",
                        help="only versions with an event on or after DATE (YYYY-MM-DD)")
