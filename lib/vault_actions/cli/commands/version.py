"""``vault version``: the next release version from Conventional Commits."""

from __future__ import annotations

import argparse
from pathlib import Path

from vault_actions.build import version
from vault_actions.cli.commands import Result


def configure(parser: argparse.ArgumentParser) -> None:
    """``--repo``: the git checkout to read."""
    parser.add_argument(
        "--repo", default=".", metavar="DIR", help="git checkout to read (default: .)"
    )


def _describe(plan: version.VersionPlan) -> str:
    """The plan for people: the decision, then one line per commit in range."""
    since = f"since v{plan.current}" if plan.current else "in the history"
    if plan.next is not None and plan.current is None:
        head = f"first release → {plan.tag} (no release tag yet: the first one is 1.0.0)"
    elif plan.next is not None:
        head = f"v{plan.current} → {plan.tag} ({plan.bump})"
    elif plan.current is not None and not plan.commits:
        head = f"nothing to release: HEAD is already v{plan.current}"
    else:
        head = f"nothing to release: no feat, fix, perf or breaking commit {since}"
    lines = [f"  {c.bump or '-':<5}  {c.sha[:10]}  {c.subject}" for c in plan.commits]
    return "\n".join([head, *lines])


def run(args: argparse.Namespace) -> Result:
    """Compute the plan; exit 0 whether or not there is something to release."""
    plan = version.next_version(Path(args.repo))
    return Result(plan.to_json(), _describe(plan))
