"""``vault metrics``: deployment frequency, lead time, change failure rate, time to restore."""

from __future__ import annotations

import argparse

from vault_actions.cli.commands import Result, audit_arguments, load_audit


def configure(parser: argparse.ArgumentParser) -> None:
    """The period and the environment (``--json`` for machines)."""
    audit_arguments(parser)


def run(args: argparse.Namespace) -> Result:
    """Compute the four keys from the ledger."""
    metrics = load_audit(args).metrics
    return Result(metrics.to_json(), metrics.text())
