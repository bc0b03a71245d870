"""``vault evidence``: every change that reached an environment, for auditors.

Exit 1 when any change in the period lacks an independent, verified approval.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from vault_actions.cli import gha
from vault_actions.cli.commands import Result, audit_arguments, load_audit, write
from vault_actions.errors import ExitCode

if TYPE_CHECKING:
    pass

FORMATS = ("csv", "json", "md", "html")


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
