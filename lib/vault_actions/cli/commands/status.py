"""``vault status``: each release's journey, derived from the ledger."""

from __future__ import annotations

import argparse

from vault_actions import config
from vault_actions.cli.commands import Result, open_ledger
from vault_actions.errors import VaultError


def configure(parser: argparse.ArgumentParser) -> None:
    """Optionally one version."""
    parser.add_argument(
        "--version", metavar="X.Y.Z", help="show only this release (default: all of them)"
    )


def run(args: argparse.Namespace) -> Result:
    """Read every event, derive journeys, what is live where and DR lag; render them."""
    from vault_actions.promotion import authority, journey
    from vault_actions.report import status
    from vault_actions.store.manifest import validate_version

    cfg = config.load(args.config)
    book = open_ledger(cfg)
    assessment = authority.read(cfg, book)
    seen = journey.overview(cfg, assessment.events)
    journeys, live, lags = seen.journeys, seen.live, seen.lags
    attempts = {v: n for n, v in enumerate(journeys, 1)}
    if args.version:
        version = validate_version(args.version)
        if version not in journeys:
            raise VaultError(
                f"the ledger has no event for v{version} ({book.uri()}v{version}/ is empty)",
                "check the version; `vault status` without --version lists every release",
            )
        journeys = {version: journeys[version]}
    data = {**status.status_data(cfg, journeys, live, lags, attempts), **assessment.to_json()}
    distrust = status.distrust_text(assessment)
    if not journeys:
        empty = (f"the ledger {book.uri()} holds no event that counts" if assessment.judged
                 else f"the ledger {book.uri()} is empty") + ": no release recorded yet"
        return Result(data, "\n\n".join([empty, *distrust]))
    return Result(data, "\n\n".join([status.status_text(cfg, journeys, live, lags), *distrust]))
