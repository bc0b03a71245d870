"""``vault init``: a vault.yml for the repository it reads, and the caller workflows
generated from it; ``vault init --update`` regenerates only the workflows."""

from __future__ import annotations

import argparse
from pathlib import Path

from vault_actions import __version__, config
from vault_actions.cli.commands import Result
from vault_actions.errors import ConfigError
from vault_actions.setup import pipeline, scaffold

SUITE = "vault-actions/vault-actions"
STS_TIMEOUT_SECONDS = 5


def configure(parser: argparse.ArgumentParser) -> None:
    """Where to write, which suite ref to pin, and the AWS names to start from."""
    parser.add_argument("--dir", default=".", help="the repository (default: .)")
    parser.add_argument(
        "--suite", help=f"OWNER/REPO of the suite (default: the pin recorded in the generated "
        f"workflows, else {SUITE})"
    )
    parser.add_argument(
        "--ref", help=f"suite release to pin (default: the recorded pin, else v{__version__}); "
        "pinned by its commit SHA",
    )
    parser.add_argument(
        "--sha", help="that release's commit SHA (default: asked of --suite-url with git)"
    )
    parser.add_argument(
        "--suite-url", help="where the suite's git repository is (default: "
        "https://github.com/<suite>.git)",
    )
    parser.add_argument("--branch", help="release branch (default: the recorded one, else main)")
    parser.add_argument("--region", default="us-east-1", help="vault region (default: us-east-1)")
    parser.add_argument("--dr-region", default="us-west-2", help="DR region (default: us-west-2)")
    parser.add_argument(
        "--bucket",
        help="vault bucket (default: <repository>-vault-<account id>-<region>, the account "
        "read from the AWS credentials; without credentials a placeholder to fill in)",
    )
    parser.add_argument(
        "--role-arn-prefix", metavar="ARN",
        help="e.g. arn:aws:iam::123456789012:role/vault- (the roles are <prefix>build, "
        "<prefix>gate and, unless vault.yml names an environment's account or role, "
        "<prefix><environment>); required unless the generated workflows record it",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument(
        "--update", action="store_true",
        help="regenerate only the workflows from the current vault.yml (never vault.yml "
        "itself); the pin, branch and role prefix stay the recorded ones unless given",
    )


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


def _pins(args: argparse.Namespace, recorded: pipeline.Pins | None) -> pipeline.Pins:
    """The flags, else what the generated workflows recorded, else the defaults."""
    suite = args.suite or (recorded.suite if recorded else SUITE)
    prefix = args.role_arn_prefix or (recorded.role_prefix if recorded else None)
    if prefix is None:
        raise ConfigError(
            "--role-arn-prefix is needed: no generated workflow records it",
            "pass the prefix of the vault account's roles, e.g. --role-arn-prefix "
            "arn:aws:iam::123456789012:role/vault-",
        )
    if args.sha or args.ref or recorded is None or args.suite:
        ref = args.ref or (recorded.ref if recorded else f"v{__version__}")
        sha = args.sha or _release_sha(args.suite_url or f"https://github.com/{suite}.git", ref)
    else:
        ref, sha = recorded.ref, recorded.sha
    branch = args.branch or (recorded.branch if recorded else "main")
    path = recorded.config if recorded and args.config == config.DEFAULT_CONFIG else \
        Path(args.config).name
    return pipeline.Pins(suite=suite, ref=ref, sha=sha, branch=branch, role_prefix=prefix,
                         config=path)


def _recorded(folder: Path) -> pipeline.Pins | None:
    found = pipeline.generated(folder)
    first = found.get("release.yml") or next(iter(found.values()), None)
    return first[1] if first else None


def run(args: argparse.Namespace) -> Result:
    """Read the repository's services; write what is missing (everything with --force);
    with --update regenerate the workflows only."""
    root = Path(args.dir).resolve()
    folder = root / ".github/workflows"
    pins = _pins(args, _recorded(folder))
    pins.check()
    if args.update:
        return _update(root, folder, pins, force=args.force)
    services = scaffold.discover(root)
    if args.bucket:
        bucket, dr_bucket, source = args.bucket, f"{args.bucket}-dr", "--bucket"
    else:
        account, source = _account(args.region)
        bucket = scaffold.propose_bucket(root.name, account, args.region)
        dr_bucket = scaffold.propose_bucket(root.name, account, args.dr_region)
        if account is None:
            dr_bucket += "-dr"
    settings = scaffold.Settings(pins=pins, region=args.region, dr_region=args.dr_region,
                                 bucket=bucket, dr_bucket=dr_bucket, services=services)
    path = root / pins.config
    written, kept = scaffold.write({path: scaffold.render(settings)}, force=args.force)
    cfg = config.load(path, placeholders=True)
    flows = {folder / name: text for name, text in pipeline.generate(cfg, pins).items()}
    more, kept_flows = scaffold.write(flows, force=args.force)
    written, kept = written + more, kept + kept_flows
    lines = [f"wrote {p.relative_to(root)}" for p in written]
    lines += [f"kept  {p.relative_to(root)} (exists; --force overwrites"
              + (", `vault init --update` regenerates the workflows)" if p.suffix == ".yml"
                 and p.parent == folder else ")") for p in kept]
    lines.append(f"  pipeline from {pins.config}: {_describe(cfg)}")
    if path in written:
        lines += [f"  service {s.name}: {s.path} · build: {s.build} · dist: {s.dist} "
                  f"({s.evidence})" for s in services] or [
            "  no service found in services/*, packages/*, apps/* or the repository itself: "
            "fill in services[app]"]
        lines.append(f"  vault bucket {bucket} ({source})")
    lines.append(f"pinned to {pins.suite}@{pins.sha} ({pins.ref}); next: fill in every "
                 "REPLACE-ME and approver in vault.yml (after changing its environments: "
                 "`vault init --update`), then")
    lines.append("`vault validate`, `vault setup-environments` and `vault doctor`")
    data = {
        "written": [str(p) for p in written],
        "kept": [str(p) for p in kept],
        "suite": pins.suite,
        "ref": pins.ref,
        "sha": pins.sha,
        "bucket": bucket,
        "services": [vars(s) for s in services],
    }
    return Result(data, "\n".join(lines))


def _describe(cfg: config.Config) -> str:
    gated = ", ".join(e.name for e in cfg.environments if e.gated) or "none"
    mirrors = ", ".join(m.name for m in cfg.mirrors) or "none"
    return f"{' → '.join(e.name for e in cfg.promotion_order)}; gates: {gated}; mirrors: {mirrors}"


def _update(root: Path, folder: Path, pins: pipeline.Pins, *, force: bool) -> Result:
    """Regenerate the workflows from vault.yml: rewrite those that differ, remove generated
    ones it no longer needs, keep files `vault init` did not generate (unless ``force``)."""
    cfg = config.load(root / pins.config, placeholders=True)
    wanted = pipeline.generate(cfg, pins)
    ours = pipeline.generated(folder)
    changed, unchanged, removed, kept = [], [], [], []
    for name in pipeline.WORKFLOWS:
        path = folder / name
        if name not in wanted:
            if name in ours:
                path.unlink()
                removed.append(name)
            continue
        if path.exists() and name not in ours and not force:
            kept.append(name)
        elif path.exists() and path.read_text(encoding="utf-8") == wanted[name]:
            unchanged.append(name)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted[name], encoding="utf-8")
            changed.append(name)
    rel = folder.relative_to(root)
    lines = [f"updated {rel / n}" for n in changed] + [f"removed {rel / n}" for n in removed]
    lines += [f"kept    {rel / n} (not generated by `vault init`; --force replaces it)"
              for n in kept]
    lines += [f"  pipeline from {pins.config}: {_describe(cfg)}"]
    if not changed and not removed:
        lines.insert(0, f"the workflows in {rel} already follow {pins.config}")
    data = {"changed": changed, "removed": removed, "unchanged": unchanged, "kept": kept,
            "suite": pins.suite, "ref": pins.ref, "sha": pins.sha}
    return Result(data, "\n".join(lines))
