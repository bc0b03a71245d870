"""``vault setup-environments``: the repository's GitHub environments, as vault.yml says.

The plan/apply engine is ``vault_actions.setup.environments``.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import TYPE_CHECKING

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result
from vault_actions.errors import ConfigError

if TYPE_CHECKING:
    from vault_actions.setup.environments import EnvironmentsSetup, OfflinePlan

_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*)/[A-Za-z0-9._-]+")


def configure(parser: argparse.ArgumentParser) -> None:
    """``--repo`` and ``--dry-run``."""
    parser.add_argument(
        "--repo", metavar="OWNER/REPO",
        help="the repository (default: $GITHUB_REPOSITORY)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan; change nothing on GitHub"
    )


def run(args: argparse.Namespace) -> Result:
    """Read vault.yml, connect with $GITHUB_TOKEN to $GITHUB_API_URL, set up environments
    (``--dry-run`` without a token: the plan from vault.yml alone)."""
    from vault_actions.integrations.github import client
    from vault_actions.setup import environments

    cfg = config.load(args.config)
    ctx = context.RunContext.from_env()
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token and args.dry_run:
        named = args.repo or ctx.repository
        return render(environments.offline_plan(cfg, _repository(named) if named else None))
    repository = _repository(args.repo or ctx.repository or "")
    if not token:
        raise ConfigError(
            "no GitHub token: GITHUB_TOKEN is not set",
            f"{environments.ADMIN_ACCESS_HINT}; or preview from vault.yml alone with --dry-run",
        )
    gha.mask(token)
    gh = client.connect(token, ctx.api_url)
    return render(environments.setup(gh, cfg, repository, dry_run=args.dry_run))


def render(done: EnvironmentsSetup | OfflinePlan) -> Result:
    """The command's Result: the changes as JSON, one line per environment as text."""
    return Result(done.to_json(), done.describe())


def _repository(value: str) -> str:
    if not value:
        raise ConfigError(
            "no repository given", "pass --repo OWNER/REPO (or set GITHUB_REPOSITORY)"
        )
    if not _REPOSITORY.fullmatch(value):
        raise ConfigError(f"repository {value!r} is not OWNER/REPO", "e.g. --repo acme/shop")
    return value
