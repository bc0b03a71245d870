"""``vault validate``: check a vault.yml."""

from __future__ import annotations

import argparse

from vault_actions import config
from vault_actions.cli.commands import Result
from vault_actions.text import plural


def configure(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common ones."""


def run(args: argparse.Namespace) -> Result:
    """Load the config; ConfigError (exit 2) when it is invalid."""
    cfg = config.load(args.config)
    envs = " → ".join(e.name for e in cfg.promotion_order)
    mirrors = ", ".join(f"{m.name} (mirror of {m.mirror_of})" for m in cfg.mirrors)
    text = f"{cfg.path} is valid: {plural(len(cfg.services), 'service')}; {envs}"
    if mirrors:
        text += f"; {mirrors}"
    data = {
        "valid": True,
        "config": str(cfg.path),
        "services": [s.name for s in cfg.services],
        "environments": [e.name for e in cfg.environments],
    }
    return Result(data, text)
