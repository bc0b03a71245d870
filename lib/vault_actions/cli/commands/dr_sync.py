"""``vault dr-sync`` and action-dr-sync: the release live in PROD, Globally Synced to DR."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result

if TYPE_CHECKING:
    from vault_actions.deliver.dr import SyncResult


@dataclass(frozen=True)
class DrSyncInputs:
    """action-dr-sync's inputs (working-directory is applied by the action's step)."""

    version: str = ""
    environment: str = ""
    config: str = config.DEFAULT_CONFIG


def configure(parser: argparse.ArgumentParser) -> None:
    """Optional ``--version`` and ``--env``."""
    parser.add_argument(
        "--version", dest="release_version", metavar="X.Y.Z",
        help="the release to sync (default: the version live in the environment mirrored)",
    )
    parser.add_argument(
        "--env", metavar="ENV",
        help="the DR environment, one with mirror-of (default: the only one in vault.yml)",
    )


def run(args: argparse.Namespace) -> Result:
    """Sync; DeployError (exit 5) when a DR function failed and the others were restored."""
    from vault_actions.deliver import release

    result = dr_sync(args.config, args.release_version or "", args.env or "")
    release.check_result(result.deploy)
    return Result(result.to_json(), text(result))


def run_action() -> Result:
    """action-dr-sync: inputs from INPUT_*, outputs ``version`` and ``functions``, a summary."""
    from vault_actions.deliver import release

    inputs = gha.read_inputs(DrSyncInputs)
    result = dr_sync(inputs.config, inputs.version, inputs.environment)
    gha.set_output("version", result.version)
    gha.set_output("functions", json.dumps(result.deploy.functions(), separators=(",", ":")))
    gha.add_summary(summary(result))
    release.check_result(result.deploy)
    return Result(result.to_json(), text(result))


def dr_sync(config_path: str, version_text: str, env_name: str) -> SyncResult:
    """Parse, build the clients, run ``deliver.release.dr_sync``."""
    from vault_actions.deliver import release
    from vault_actions.integrations import aws
    from vault_actions.store.manifest import validate_version

    cfg = config.load(config_path)
    version = validate_version(version_text) if version_text else None
    return release.dr_sync(
        cfg, env_name or None, version, clients=aws.client,
        token=os.environ.get("GITHUB_TOKEN", ""), ctx=context.RunContext.from_env(), runner=gha,
    )


def _ledger_line(result: SyncResult) -> str:
    if result.recorded is not None:
        return f"dr_synced recorded in {result.environment}: v{result.version} is Globally Synced"
    if result.ok:
        return f"v{result.version} was already synced to {result.environment}: nothing recorded"
    return f"deploy_failed recorded in {result.environment}"


def text(result: SyncResult) -> str:
    """The terminal rendering: objects copied, functions deployed, what the ledger says."""
    keys = max(len(o.key) for o in result.objects)
    lines = [
        f"v{result.version} → {result.environment} ({result.region}), "
        f"mirror of {result.source}:",
        f"  s3://{result.bucket}/",
        *(f"    {o.key:<{keys}}  {o.status:<7}  ChecksumSHA256 {o.code_sha256}  "
          f"object version {o.version_id}" for o in result.objects),
    ]
    services = result.deploy.services
    targets = [f"{s.function}:{s.alias} → {s.function_version or '-'}" for s in services]
    names, width = max(len(s.service) for s in services), max(map(len, targets))
    lines += [
        f"  {s.service:<{names}}  {target:<{width}}  {s.status:<9}  CodeSha256 {s.code_sha256}"
        for s, target in zip(services, targets, strict=True)
    ]
    lines.append(f"  ledger: {_ledger_line(result)}")
    return "\n".join(lines)


def summary(result: SyncResult) -> str:
    """The step summary: the DR bucket's objects, then the DR functions' table."""
    from vault_actions.deliver.release import summary as release_summary

    icon = "💾" if result.ok else "⛔"
    rows = [
        f"| `{o.key}` | `{o.version_id}` | `{o.code_sha256}` | {o.size} | {o.status} |"
        for o in result.objects
    ]
    return "\n".join(
        [
            f"### {icon} DR sync: v{result.version} → {result.environment} ({result.region})",
            "",
            f"Copied from the vault to `s3://{result.bucket}` (manifest last):",
            "",
            "| object | DR object version | ChecksumSHA256 | bytes | status |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            release_summary(result.deploy),
            "",
            _ledger_line(result) + ".",
        ]
    )
