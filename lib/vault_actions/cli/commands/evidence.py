"""``vault evidence``: every change that reached an environment, for auditors.

Exit 1 when any change in the period lacks an independent, verified approval.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vault_actions import config
from vault_actions.cli import gha
from vault_actions.cli.commands import Result, open_ledger
from vault_actions.errors import ConfigError, ExitCode

if TYPE_CHECKING:
    from vault_actions.report.audit import Audit

FORMATS = ("csv", "json", "md", "html")


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


def configure(parser: argparse.ArgumentParser) -> None:
    """The period, the environment, the format and the output file."""
    audit_arguments(parser, since_required=True)
    parser.add_argument("--format", choices=FORMATS, default="md",
                        help="csv, json, md (default) or html")
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")


def run(args: argparse.Namespace) -> Result:
    """Gather the evidence, render it; exit 4 when a change lacks an independent approval."""
    from vault_actions.report import evidence, html

    found = load_audit(args).evidence
    if args.format == "csv":
        rendered = evidence.to_csv(found)
    elif args.format == "json":
        rendered = json.dumps(found.to_json(), indent=2) + "\n"
    elif args.format == "html":
        rendered = html.document(f"Evidence: changes to {found.environment.upper()}",
                                 found.period.describe(), [html.evidence_section(found)])
    else:
        rendered = evidence.to_markdown(found)
    text = write(args.output, rendered, f"the evidence ({args.format})") or rendered.rstrip("\n")
    for change in found.lacking:
        gha.error(f"v{change.version} in {change.environment} lacks an independent, verified "
                  f"approval: {'; '.join(change.problems)}", title="Evidence")
    code = ExitCode.OK if found.compliant else ExitCode.CHECK_FAILED
    return Result(found.to_json(), text, code)
