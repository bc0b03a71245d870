"""``vault verify``: check every ledger event's proof of who wrote it, and its authority."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vault_actions import config
from vault_actions.cli.commands import Result, open_ledger
from vault_actions.errors import ConfigError, ExitCode


def configure(parser: argparse.ArgumentParser) -> None:
    """Optionally one version, and a file that keeps the issuer's keys."""
    parser.add_argument("--version", metavar="X.Y.Z", help="only this release (default: all)")
    parser.add_argument(
        "--keys", metavar="FILE",
        help="keep the issuer's signing keys in FILE (read first, updated after), so that "
             "tokens signed with keys the issuer has since rotated away still verify",
    )


def run(args: argparse.Namespace) -> Result:
    """Judge every event; exit 4 (a check failed) unless every event holds."""
    from vault_actions.integrations.oidc import Keys
    from vault_actions.promotion import authority, derived
    from vault_actions.report.verification import Verification
    from vault_actions.store.attestation import Verifier

    cfg = config.load(args.config)
    keys_file = Path(args.keys) if args.keys else None
    keys = Keys(cfg.ledger.issuer, known=_read_keys(keys_file))
    repository = authority.trusted_repository(cfg)
    verifier = Verifier(cfg.ledger.issuer, repository, keys)
    book = open_ledger(cfg)
    assessment = authority.read(cfg, book, args.version, verifier)
    if keys_file is not None:
        keys_file.write_text(json.dumps(keys.jwks, indent=2, sort_keys=True) + "\n")
    found = Verification(assessment, repository, cfg.ledger.issuer)
    data, text = found.to_json(), found.text()
    if not args.version:  # the index summarises the whole ledger: checked against all of it
        index = derived.check_index(cfg, book, assessment)
        data["index"] = index.to_json()
        text += f"\nderived index: {index.describe()}" + (
            "" if index.ok else " (run `vault ledger reindex`)")
    return Result(data, text, ExitCode.OK if found.ok else ExitCode.CHECK_FAILED)


def _read_keys(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--keys {path} cannot be read as JSON ({exc})",
                          "pass the file an earlier `vault verify --keys` wrote") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--keys {path} is not a JSON object of keys by id",
                          "pass the file an earlier `vault verify --keys` wrote")
    return raw
