"""``vault doctor``: check that a live vault keeps its promises."""

from __future__ import annotations

import argparse

from vault_actions import config
from vault_actions.cli.commands import Result
from vault_actions.errors import ExitCode
from vault_actions.integrations import aws
from vault_actions.setup import doctor


def configure(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common ones (--json, --config)."""


def run(args: argparse.Namespace) -> Result:
    """Inspect the buckets and functions of vault.yml; exit 4 when a promise is broken."""
    cfg = config.load(args.config)
    report = doctor.examine(cfg, aws.client, embedded=aws.embedded())
    code = ExitCode.OK if report.ok else ExitCode.CHECK_FAILED
    return Result(report.as_dict(), doctor.render(report), code)
