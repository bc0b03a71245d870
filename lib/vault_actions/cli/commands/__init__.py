"""One module per ``vault`` sub-command: ``configure(parser)`` and ``run(args) -> Result``.

Command modules import boto3 and PyGithub only inside ``run`` so that ``vault --help``
stays fast. A module that backs a GitHub Action also has ``run_action() -> int``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vault_actions.config import Config
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


DEFAULT_LIMIT = 20  # versions status and the graveyard show unless told


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
    parser.add_argument(
        *names, dest="limit", type=count, default=DEFAULT_LIMIT, metavar="N",
        help=f"show the newest N versions (default: {DEFAULT_LIMIT}; 0: all)")
    parser.add_argument("--since", type=day, metavar="DATE",
                        help="only versions with an event on or after DATE (YYYY-MM-DD)")
