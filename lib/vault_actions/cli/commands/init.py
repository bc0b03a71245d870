"""``vault init``: write the caller workflows and a starter vault.yml."""

from __future__ import annotations

import argparse
from pathlib import Path

from vault_actions import __version__
from vault_actions.cli.commands import Result
from vault_actions.setup import scaffold

SUITE = "vault-actions/vault-actions"


def configure(parser: argparse.ArgumentParser) -> None:
    """Where to write, which suite ref to pin, and the AWS names to start from."""
    parser.add_argument("--dir", default=".", help="the repository (default: .)")
    parser.add_argument(
        "--suite", default=SUITE, help=f"OWNER/REPO of the suite (default: {SUITE})"
    )
    parser.add_argument(
        "--ref", default=f"v{__version__}", help=f"suite ref to pin (default: v{__version__})"
    )
    parser.add_argument("--branch", default="main", help="release branch (default: main)")
    parser.add_argument("--region", default="us-east-1", help="vault region (default: us-east-1)")
    parser.add_argument("--dr-region", default="us-west-2", help="DR region (default: us-west-2)")
    parser.add_argument("--bucket", help="vault bucket (default: <repository folder>-vault)")
    parser.add_argument(
        "--role-arn-prefix", required=True, metavar="ARN",
        help="e.g. arn:aws:iam::123456789012:role/vault- (the roles are <prefix>build, …)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")


def run(args: argparse.Namespace) -> Result:
    """Write what is missing (everything with --force)."""
    root = Path(args.dir).resolve()
    settings = scaffold.Settings(
        suite=args.suite,
        ref=args.ref,
        branch=args.branch,
        config=Path(args.config).name,
        region=args.region,
        dr_region=args.dr_region,
        bucket=args.bucket or f"{root.name.lower()}-vault",
        role_prefix=args.role_arn_prefix,
    )
    written, kept = scaffold.write(scaffold.plan(root, settings), force=args.force)
    lines = [f"wrote {p.relative_to(root)}" for p in written]
    lines += [f"kept  {p.relative_to(root)} (exists; --force overwrites)" for p in kept]
    lines.append(f"pinned to {settings.suite}@{settings.ref}; next: edit vault.yml, then")
    lines.append("`vault validate`, `vault setup-environments` and `vault doctor`")
    data = {
        "written": [str(p) for p in written],
        "kept": [str(p) for p in kept],
        "suite": settings.suite,
        "ref": settings.ref,
    }
    return Result(data, "\n".join(lines))
