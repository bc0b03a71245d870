"""``vault status``: the newest releases' journeys, derived from the ledger."""

from __future__ import annotations

import argparse

from vault_actions import config
from vault_actions.cli.commands import Result, add_window, open_ledger
from vault_actions.errors import VaultError


def configure(parser: argparse.ArgumentParser) -> None:
    """One version, or the newest ones."""
    parser.add_argument(
        "--version", metavar="X.Y.Z", help="show only this release (reads only its events)"
    )
    add_window(parser, "--limit")


def run(args: argparse.Namespace) -> Result:
    """Read the shown versions' events (from the newest summary and the feed since, or their
    folders) and what is live where; render."""
    from vault_actions.promotion.live import Reader
    from vault_actions.report import status
    from vault_actions.store.manifest import precedence, validate_version

    cfg = config.load(args.config)
    book = open_ledger(cfg)
    reader = Reader(cfg, book, summary=True)
    if args.version:
        version = validate_version(args.version)
        if not reader.own_events(version).judged:
            raise VaultError(
                f"the ledger has no event for v{version} ({book.uri()}v{version}/ is empty)",
                "check the version; `vault status` without --version lists the releases",
            )
        listed, _ = reader.versions()  # for the attempt number
        versions = sorted({*listed, version}, key=precedence, reverse=True)
        seen = reader.overview([version])
        attempts = {version: len(versions) - versions.index(version)}
        assessment = reader.judged([version])
        if not seen.journeys[version].events:
            seen.journeys.pop(version)
    else:
        shown = reader.recent(args.limit or None, args.since)
        seen, attempts, assessment = shown.overview, shown.attempts, shown.judged
    journeys, live, lags = seen.journeys, seen.live, seen.lags
    data = {**status.status_data(cfg, journeys, live, lags, attempts), **assessment.to_json()}
    distrust = status.distrust_text(assessment)
    if not journeys:
        empty = (f"the ledger {book.uri()} holds no event that counts" if assessment.judged
                 else f"the ledger {book.uri()} is empty") + ": no release recorded yet"
        return Result(data, "\n\n".join([empty, *distrust]))
    return Result(data, "\n\n".join([status.status_text(cfg, journeys, live, lags), *distrust]))
