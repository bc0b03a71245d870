"""``vault build`` and action-build: the Factory, whole or in its two halves.

``vault build`` builds, tags and locks in one process. The release workflow splits it:
``--zips-to DIR`` (action-build ``mode: zips``) runs the build commands with no AWS and
no token; ``--publish-from DIR`` (``mode: publish``) checks the zips' digests, tags,
uploads and records them.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault_actions import config, context
from vault_actions.build.factory import Outcome
from vault_actions.cli import gha
from vault_actions.cli.commands import Result
from vault_actions.errors import ConfigError

if TYPE_CHECKING:
    from vault_actions.build import provenance
    from vault_actions.build.factory import Zips

MODES = ("all", "zips", "publish")
DIGESTS_HINT = (
    "pass the build job's `digests` output: a JSON object of service name to hex SHA-256"
)


@dataclass(frozen=True)
class BuildInputs:
    """action-build's inputs."""

    config: str = config.DEFAULT_CONFIG
    version: str = ""
    push_tag: bool = True
    mode: str = "all"
    dir: str = ""
    digests: str = ""


def configure(parser: argparse.ArgumentParser) -> None:
    """``--version``, ``--push``, the two halves and ``--allow-dirty``."""
    parser.add_argument(
        "--version", dest="release_version", metavar="X.Y.Z",
        help="release this version instead of the computed one",
    )
    parser.add_argument("--push", action="store_true", help="push the tag to origin")
    half = parser.add_mutually_exclusive_group()
    half.add_argument(
        "--zips-to", metavar="DIR", type=Path,
        help="only build and zip every service into DIR (no AWS, no tag)",
    )
    half.add_argument(
        "--publish-from", metavar="DIR", type=Path,
        help="only tag and lock the zips --zips-to wrote into DIR (no build)",
    )
    parser.add_argument(
        "--digests", metavar="JSON",
        help="with --publish-from: the SHA-256 each zip must have ({service: hex})",
    )
    parser.add_argument(
        "--allow-dirty", action="store_true",
        help="build uncommitted changes (local experiments only; refused in Actions)",
    )


def run(args: argparse.Namespace) -> Result:
    """Build, tag and lock the release (or one half); record ``built`` in the ledger."""
    if args.zips_to is not None:
        zips = make_zips(args.config, args.release_version, args.zips_to,
                         allow_dirty=args.allow_dirty)
        return Result(_zips_data(zips, args.zips_to), _zips_text(zips, args.zips_to))
    if args.publish_from is not None:
        digests = parse_digests(args.digests) if args.digests else None
        outcome = build(args.config, args.release_version, push=args.push,
                        source=args.publish_from, digests=digests)
    else:
        outcome = build(args.config, args.release_version, push=args.push,
                        allow_dirty=args.allow_dirty)
    return Result(_data(outcome), _text(outcome))


def make_zips(
    config_path: str, override: str | None, out: Path, *, allow_dirty: bool = False
) -> Zips | None:
    """The credential-less half: build and zip into ``out``."""
    from vault_actions.build import factory

    cfg = config.load(config_path)
    return factory.build_zips(cfg, out, override=override or None, allow_dirty=allow_dirty)


def parse_digests(raw: str) -> dict[str, str]:
    """``{service: hex sha256}`` from JSON, or a ConfigError naming the input."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"digests {raw[:80]!r} are not JSON ({exc})", DIGESTS_HINT) from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"digests {raw[:80]!r} are not an object of strings", DIGESTS_HINT)
    return value


def build(
    config_path: str,
    override: str | None,
    *,
    push: bool,
    allow_dirty: bool = False,
    source: Path | None = None,
    digests: dict[str, str] | None = None,
) -> Outcome:
    """Load the config, run the Factory (publish the zips in ``source`` when given),
    record the ledger event and the GitHub pre-release."""
    from vault_actions.build import factory, provenance
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
    if source is not None:
        zips = factory.load_zips(cfg, source, digests)
        outcome = factory.publish(
            cfg, vault, ctx, zips, override=override or None, push=push, token=token
        )
    else:
        outcome = factory.release(
            cfg, vault, ctx, override=override or None, push=push, token=token,
            allow_dirty=allow_dirty,
        )
    provenance.record_built(Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix),
                            cfg.root, outcome, ctx, _logins(ctx, token))
    if token:
        _release(cfg, outcome, ctx, token)
    return outcome


def _logins(ctx: context.RunContext, token: str | None) -> provenance.LoginLookup | None:
    """Ask GitHub who authored and committed the release (None outside Actions)."""
    if not (token and ctx.repository):
        return None
    from vault_actions.integrations import github

    gh, repository = github.connect(token, ctx.api_url), ctx.repository
    return lambda base, head: github.commit_logins(gh, repository, base, head)


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
    if inputs.mode not in MODES:
        raise ConfigError(
            f"input 'mode' is {inputs.mode!r}", f"use one of: {', '.join(MODES)}"
        )
    folder = Path(inputs.dir or Path(os.environ.get("RUNNER_TEMP", ".")) / "vault-zips")
    if inputs.mode == "zips":
        return _zips_action(make_zips(inputs.config, inputs.version, folder), folder)
    if inputs.mode == "publish":
        if not inputs.digests:
            raise ConfigError("input 'digests' is empty: mode 'publish' checks every zip",
                              DIGESTS_HINT)
        outcome = build(inputs.config, inputs.version, push=inputs.push_tag, source=folder,
                        digests=parse_digests(inputs.digests))
    else:
        outcome = build(inputs.config, inputs.version, push=inputs.push_tag)
    data = _data(outcome)
    gha.set_output("status", outcome.status)
    gha.set_output("version", outcome.version or "")
    gha.set_output("tag", outcome.tag or "")
    gha.set_output("manifest-uri", outcome.manifest_uri or "")
    gha.set_output("artifacts", _json(data["artifacts"]))
    gha.add_summary(summary(outcome))
    return Result(data, _text(outcome))


def _zips_action(zips: Zips | None, folder: Path) -> Result:
    data = _zips_data(zips, folder)
    gha.set_output("status", data["status"])
    gha.set_output("version", data["version"] or "")
    gha.set_output("digests", _json(data["digests"]))
    gha.set_output("dir", str(folder))
    gha.add_summary(_zips_summary(zips))
    return Result(data, _zips_text(zips, folder))


def _zips_data(zips: Zips | None, folder: Path) -> dict[str, Any]:
    return {
        "status": "zipped" if zips else "nothing-to-release",
        "version": zips.version if zips else None,
        "commit": zips.commit if zips else None,
        "dir": str(folder),
        "digests": zips.digests if zips else {},
    }


def _zips_text(zips: Zips | None, folder: Path) -> str:
    if zips is None:
        return "Nothing to release: no fix:, feat: or breaking commit since the last tag."
    lines = [f"v{zips.version} zipped into {folder} (not yet tagged or in the vault):"]
    lines += [f"  {name:<24} {art.size} bytes  sha256 {art.sha256}"
              for name, art in sorted(zips.artifacts.items())]
    return "\n".join(lines)


def _zips_summary(zips: Zips | None) -> str:
    if zips is None:
        return "### 🏭 Factory\n\nNothing to release since the last tag."
    rows = [f"| {name} | {art.size:,} | `{art.sha256}` |"
            for name, art in sorted(zips.artifacts.items())]
    return "\n".join([
        f"### 🏭 Factory: v{zips.version} built (no credentials)", "",
        "| service | size (bytes) | SHA-256 |", "| --- | ---: | --- |", *rows,
    ])


def _json(value: Any) -> str:
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
