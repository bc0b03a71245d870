"""``vault init``: write the caller workflows and a vault.yml for the repository it reads."""

from __future__ import annotations

import argparse
from pathlib import Path

from vault_actions import __version__
from vault_actions.cli.commands import Result
from vault_actions.errors import ConfigError
from vault_actions.setup import scaffold

SUITE = "vault-actions/vault-actions"
STS_TIMEOUT_SECONDS = 5


def configure(parser: argparse.ArgumentParser) -> None:
    """Where to write, which suite ref to pin, and the AWS names to start from."""
    parser.add_argument("--dir", default=".", help="the repository (default: .)")
    parser.add_argument(
        "--suite", default=SUITE, help=f"OWNER/REPO of the suite (default: {SUITE})"
    )
    parser.add_argument(
        "--ref", default=f"v{__version__}",
        help=f"suite release to pin (default: v{__version__}); pinned by its commit SHA",
    )
    parser.add_argument(
        "--sha", help="that release's commit SHA (default: asked of --suite-url with git)"
    )
    parser.add_argument(
        "--suite-url", help="where the suite's git repository is (default: "
        "https://github.com/<suite>.git)",
    )
    parser.add_argument("--branch", default="main", help="release branch (default: main)")
    parser.add_argument("--region", default="us-east-1", help="vault region (default: us-east-1)")
    parser.add_argument("--dr-region", default="us-west-2", help="DR region (default: us-west-2)")
    parser.add_argument(
        "--bucket",
        help="vault bucket (default: <repository>-vault-<account id>-<region>, the account "
        "read from the AWS credentials; without credentials a placeholder to fill in)",
    )
    parser.add_argument(
        "--role-arn-prefix", required=True, metavar="ARN",
        help="e.g. arn:aws:iam::123456789012:role/vault- (the roles are <prefix>build, …)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")


def _account(region: str) -> tuple[str | None, str]:
    """The AWS account of the current credentials (STS), or None and why not."""
    from botocore.exceptions import BotoCoreError, ClientError

    from vault_actions.integrations import aws

    sts = aws.client("sts", region, attempts=1, timeout_seconds=STS_TIMEOUT_SECONDS)
    try:
        account = str(sts.get_caller_identity()["Account"])
    except ClientError as exc:  # no credentials (or refused ones) only means: no proposal
        return None, aws.describe(exc)
    except BotoCoreError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return account, f"account {account} (AWS credentials, sts:GetCallerIdentity)"


def _release_sha(url: str, ref: str) -> str:
    """The commit the suite's release tag ``ref`` names (the callers pin it)."""
    from vault_actions.integrations import git

    sha = git.remote_tag_commit(url, ref)
    if sha is None:
        raise ConfigError(
            f"{url} has no tag {ref!r}: the callers cannot be pinned to it",
            "pass --ref with a released version (git ls-remote --tags URL), or --sha with "
            "its commit",
        )
    return sha


def run(args: argparse.Namespace) -> Result:
    """Read the repository's services; write what is missing (everything with --force)."""
    root = Path(args.dir).resolve()
    services = scaffold.discover(root)
    if args.bucket:
        bucket, dr_bucket, source = args.bucket, f"{args.bucket}-dr", "--bucket"
    else:
        account, source = _account(args.region)
        bucket = scaffold.propose_bucket(root.name, account, args.region)
        dr_bucket = scaffold.propose_bucket(root.name, account, args.dr_region)
        if account is None:
            dr_bucket += "-dr"
    settings = scaffold.Settings(
        suite=args.suite,
        ref=args.ref,
        sha=args.sha or _release_sha(args.suite_url or f"https://github.com/{args.suite}.git",
                                     args.ref),
        branch=args.branch,
        config=Path(args.config).name,
        region=args.region,
        dr_region=args.dr_region,
        bucket=bucket,
        dr_bucket=dr_bucket,
        role_prefix=args.role_arn_prefix,
        services=services,
    )
    written, kept = scaffold.write(scaffold.plan(root, settings), force=args.force)
    lines = [f"wrote {p.relative_to(root)}" for p in written]
    lines += [f"kept  {p.relative_to(root)} (exists; --force overwrites)" for p in kept]
    lines += [f"  service {s.name}: {s.path} · build: {s.build} · dist: {s.dist} ({s.evidence})"
              for s in services] or ["  no service found in services/*, packages/*, apps/* or "
                                     "the repository itself: fill in services[app]"]
    lines.append(f"  vault bucket {bucket} ({source})")
    lines.append(f"pinned to {settings.suite}@{settings.sha} ({settings.ref}); next: fill in "
                 "every REPLACE-ME and approver in vault.yml, then")
    lines.append("`vault validate`, `vault setup-environments` and `vault doctor`")
    data = {
        "written": [str(p) for p in written],
        "kept": [str(p) for p in kept],
        "suite": settings.suite,
        "ref": settings.ref,
        "sha": settings.sha,
        "bucket": bucket,
        "services": [vars(s) for s in services],
    }
    return Result(data, "\n".join(lines))
