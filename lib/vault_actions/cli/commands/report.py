"""``vault report --html FILE``: one self-contained HTML page for people and auditors."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from vault_actions.cli.commands import Result, audit_arguments, load_audit, write


def configure(parser: argparse.ArgumentParser) -> None:
    """The output file, the period and the environment."""
    parser.add_argument("--html", required=True, metavar="FILE", help="write the report here")
    audit_arguments(parser)


def run(args: argparse.Namespace) -> Result:
    """Metrics, the graveyard, the evidence and each journey, in one file."""
    from vault_actions.report import html

    found = load_audit(args)
    page = html.report(found, datetime.now(UTC))
    text = write(args.html, page, "the report") or ""
    data = {"html": args.html, "evidence": found.evidence.to_json(),
            "metrics": found.metrics.to_json()}
    return Result(data, text)
