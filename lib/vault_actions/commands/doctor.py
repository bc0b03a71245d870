"""``vault doctor``: check that a live vault keeps its promises."""

from __future__ import annotations

import argparse

from vault_actions import aws, config, doctor
from vault_actions.commands import Result
from vault_actions.errors import VaultError


def configure(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common ones (--json, --config)."""


def run(args: argparse.Namespace) -> Result:
    """Inspect the buckets and functions of vault.yml; exit 1 when a promise is broken."""
    from botocore.exceptions import NoCredentialsError

    cfg = config.load(args.config)
    try:
        report = doctor.examine(cfg, aws.client)
    except NoCredentialsError:
        raise VaultError(
            f"no AWS credentials to inspect the vault {cfg.vault.bucket!r} with",
            "sign in (aws sso login, AWS_PROFILE=…) as someone with read access to the "
            "buckets and functions; see infra/README.md for the permissions",
        ) from None
    return Result(report.as_dict(), doctor.render(report), 0 if report.ok else 1)
