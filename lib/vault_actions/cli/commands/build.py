"""``vault build`` and action-build: the Factory."""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass
from typing import Any

from vault_actions import config, context
from vault_actions.build.factory import Outcome
from vault_actions.cli import gha
from vault_actions.cli.commands import Result


@dataclass(frozen=True)
class BuildInputs:
    """action-build's inputs."""

    config: str = config.DEFAULT_CONFIG
    version: str = ""
    push_tag: bool = True


def configure(parser: argparse.ArgumentParser) -> None:
    """``--version`` overrides the computed version; ``--push`` pushes the tag."""
    parser.add_argument(
        "--version", dest="release_version", metavar="X.Y.Z",
        help="release this version instead of the computed one",
    )
    parser.add_argument("--push", action="store_true", help="push the tag to origin")


def run(args: argparse.Namespace) -> Result:
    """Build, tag and lock the release; record ``built`` in the ledger."""
    outcome = build(args.config, args.release_version, push=args.push)
    return Result(_data(outcome), _text(outcome))


def build(config_path: str, override: str | None, *, push: bool) -> Outcome:
    """Load the config, run the Factory, record the ledger event."""
    from vault_actions.build import factory
    from vault_actions.integrations import aws
    from vault_actions.store.ledger import Ledger
    from vault_actions.store.vault import Vault

    cfg = config.load(config_path)
    ctx = context.RunContext.from_env()
    s3 = aws.client("s3", cfg.vault.region)
    vault = Vault(s3, cfg.vault.bucket, cfg.vault.region)
    token = os.environ.get("GITHUB_TOKEN") if context.in_actions() else None
    if token:
        gha.mask(token)
    outcome = factory.release(
        cfg, vault, ctx, override=override or None, push=push, token=token
    )
    if outcome.status in ("built", "completed") and outcome.manifest is not None:
        Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix).record(
            outcome.manifest.version,
            "built",
            None,
            ctx,
            commit=outcome.manifest.commit,
            details={"artifacts": [a.key for a in outcome.manifest.artifacts]},
        )
    if token:
        _release(cfg, outcome, ctx, token)
    return outcome


def _release(cfg: config.Config, outcome: Outcome, ctx: context.RunContext, token: str) -> None:
    """Create or update the GitHub pre-release; a failure only warns (the build is done)."""
    from vault_actions.build import changelog
    from vault_actions.errors import GitError, GitHubError
    from vault_actions.integrations import github

    manifest, repository = outcome.manifest, ctx.repository
    if manifest is None or outcome.manifest_uri is None or repository is None:
        return
    try:
        notes = changelog.release_notes(cfg.root, manifest, outcome.manifest_uri)
        github.publish_prerelease(github.connect(token, ctx.api_url), repository, manifest.tag,
                                  commit=manifest.commit, notes=notes)
    except (GitError, GitHubError) as exc:
        gha.warning(f"{exc}\n(the release is in the vault; its GitHub Release was not written)",
                    title=exc.title)


def run_action() -> Result:
    """action-build: inputs from INPUT_*, outputs and a step summary."""
    inputs = gha.read_inputs(BuildInputs)
    outcome = build(inputs.config, inputs.version, push=inputs.push_tag)
    data = _data(outcome)
    gha.set_output("status", outcome.status)
    gha.set_output("version", outcome.version or "")
    gha.set_output("tag", outcome.tag or "")
    gha.set_output("manifest-uri", outcome.manifest_uri or "")
    gha.set_output("artifacts", _json(data["artifacts"]))
    gha.add_summary(summary(outcome))
    return Result(data, _text(outcome))


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _data(outcome: Outcome) -> dict[str, Any]:
    manifest = outcome.manifest
    return {
        "status": outcome.status,
        "version": outcome.version,
        "tag": outcome.tag,
        "manifest_uri": outcome.manifest_uri,
        "commit": manifest.commit if manifest else None,
        "artifacts": [asdict(a) for a in manifest.artifacts] if manifest else [],
    }


def _text(outcome: Outcome) -> str:
    if outcome.manifest is None:
        return "Nothing to release: no fix:, feat: or breaking commit since the last tag."
    verb = {
        "built": "built and locked in the vault",
        "completed": "finished (the earlier build was incomplete)",
        "unchanged": "was already complete in the vault; nothing rebuilt",
    }[outcome.status]
    lines = [f"{outcome.tag} {verb}: {outcome.manifest_uri}"]
    lines += [
        f"  {a.service:<24} s3://{outcome.manifest.bucket}/{a.key}  {a.size} bytes  "
        f"sha256 {a.sha256}"
        for a in outcome.manifest.artifacts
    ]
    return "\n".join(lines)


def summary(outcome: Outcome) -> str:
    """The step-summary table: service, key, size, SHA-256."""
    if outcome.manifest is None:
        return "### 🏭 Factory\n\nNothing to release since the last tag."
    rows = [
        f"| {a.service} | `{a.key}` | {a.size:,} | `{a.sha256}` |"
        for a in outcome.manifest.artifacts
    ]
    return "\n".join(
        [
            f"### 🏭 Factory: {outcome.tag} ({outcome.status})",
            "",
            f"Manifest: `{outcome.manifest_uri}` · commit `{outcome.manifest.commit[:12]}`",
            "",
            "| service | key | size (bytes) | SHA-256 |",
            "| --- | --- | ---: | --- |",
            *rows,
        ]
    )
