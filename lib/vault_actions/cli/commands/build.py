"""``vault build`` and action-build: the Factory, whole or in its two halves.

``vault build`` builds, tags and locks in one process. The release workflow splits it:
``--zips-to DIR`` (action-build ``mode: zips``) runs the build commands with no AWS and
no token; ``--publish-from DIR`` (``mode: publish``) checks the zips' digests, tags,
uploads and records them. ``--dry-run`` previews a release without credentials: the next
version, its release notes, the zips and their digests (in ``--zips-to`` DIR or a new
temporary folder); no tag, no AWS, no GitHub.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault_actions import config, context
from vault_actions.build.factory import Outcome
from vault_actions.cli import gha
from vault_actions.cli.commands import Result
from vault_actions.errors import ConfigError

if TYPE_CHECKING:
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
    digests: dict[str, str] = field(default_factory=dict, metadata={"hint": DIGESTS_HINT})


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
        "--dry-run", action="store_true",
        help="preview: next version, release notes, zips and digests on disk (in --zips-to "
             "DIR, else a new temporary folder); no tag, no AWS, no GitHub",
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
    if args.dry_run:
        return dry_run(args.config, args.release_version, args.zips_to, push=args.push,
                       allow_dirty=args.allow_dirty, publish_from=args.publish_from)
    if args.zips_to is not None:
        zips = make_zips(args.config, args.release_version, args.zips_to,
                         allow_dirty=args.allow_dirty)
        return Result(_zips_data(zips, args.zips_to), _zips_text(zips, args.zips_to))
    if args.publish_from is not None:
        digests = (check_digests(gha.parse_json('digests', args.digests, DIGESTS_HINT))
                   if args.digests else None)
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


def dry_run(config_path: str, override: str | None, out: Path | None, *, push: bool,
            allow_dirty: bool, publish_from: Path | None = None) -> Result:
    """``vault build --dry-run``: ``build.publish.dry_run`` into ``out`` (or a temporary
    folder), rendered."""
    import tempfile

    from vault_actions.build import publish

    if push:
        raise ConfigError("--push with --dry-run: a dry run makes no tag to push",
                          "drop --push, or drop --dry-run to release")
    if publish_from is not None:
        raise ConfigError("--publish-from with --dry-run: a dry run builds its own zips",
                          "drop --publish-from (--zips-to DIR says where the preview goes)")
    cfg = config.load(config_path)
    folder = out if out is not None else Path(tempfile.mkdtemp(prefix="vault-dry-run-"))
    preview = publish.dry_run(cfg, folder, override=override or None, allow_dirty=allow_dirty)
    data = {**_zips_data(preview.zips if preview else None, folder), "dry_run": True,
            "tag": f"v{preview.zips.version}" if preview else None,
            "previous": preview.notes.previous if preview else None,
            "release_notes": preview.notes.markdown() if preview else None}
    if preview is None:
        return Result(data, _zips_text(None, folder))
    text = "\n".join([
        f"Dry run: v{preview.zips.version} would be released from "
        f"{preview.zips.commit[:12]} (tag v{preview.zips.version} not made; nothing uploaded, "
        "no AWS or GitHub call)", "", _zips_text(preview.zips, folder), "",
        preview.notes.markdown()])
    return Result(data, text)


def check_digests(value: object) -> dict[str, str]:
    """``{service: hex sha256}`` (parsed JSON), or a ConfigError naming the input."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"digests {str(value)[:80]!r} are not an object of strings",
                          DIGESTS_HINT)
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
    """Load the config, build the S3 client, run ``build.publish.build`` (publishing the
    zips in ``source`` when given)."""
    from vault_actions.build import factory, publish
    from vault_actions.integrations import aws

    cfg = config.load(config_path)
    ctx = context.RunContext.from_env()
    s3 = aws.client("s3", cfg.vault.region)
    token = os.environ.get("GITHUB_TOKEN") if context.in_actions() else None
    if token:
        gha.mask(token)
    zips = factory.load_zips(cfg, source, digests) if source is not None else None
    return publish.build(cfg, s3, ctx, override=override or None, push=push, token=token,
                         zips=zips, allow_dirty=allow_dirty, runner=gha)


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
                        digests=check_digests(inputs.digests))
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
