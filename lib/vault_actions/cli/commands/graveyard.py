"""``vault graveyard``: where every release died (or lives), as Mermaid, Markdown or JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result, add_window, open_ledger
from vault_actions.errors import ConfigError


def configure(parser: argparse.ArgumentParser) -> None:
    """Format, output file and which versions."""
    parser.add_argument(
        "--format",
        choices=("markdown", "mermaid", "json", "text"),
        default="markdown",
        help="markdown (default: the Mermaid chart and the audit table), mermaid, json or "
        "text (a compact drawing for a terminal)",
    )
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    add_window(parser, "--last", "--limit")


def run(args: argparse.Namespace) -> Result:
    """Render the graveyard; in Actions also append the Markdown form to the step summary."""
    from vault_actions.promotion.live import Reader
    from vault_actions.report import graveyard

    cfg = config.load(args.config)
    shown = Reader(cfg, open_ledger(cfg), summary=True).recent(args.limit or None, args.since)
    seen, assessment, first = shown.overview, shown.judged, shown.first
    journeys, live, lags = seen.journeys, seen.live, seen.lags
    data = {**graveyard.graveyard_data(cfg, journeys, live, lags, first=first),
            **assessment.to_json()}
    markdown = graveyard.graveyard_markdown(cfg, journeys, live, None, assessment, first=first)
    rendered = {
        "markdown": markdown,
        "mermaid": graveyard.graveyard_mermaid(cfg, journeys, live, first=first),
        "json": json.dumps(data, indent=2) + "\n",
        "text": graveyard.graveyard_text(cfg, journeys, live, first=first) + "\n",
    }[args.format]
    if context.in_actions():
        gha.add_summary(markdown)
    if not args.output:
        return Result(data, rendered.rstrip("\n"))
    path = Path(args.output)
    try:
        path.write_text(rendered, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot write --output {path}: {exc.strerror}", "pass a writable file path"
        ) from None
    return Result(data, f"wrote the graveyard ({args.format}) to {path}")
