"""``vault validate``: check a vault.yml, and that the repository's generated workflows
still follow it."""

from __future__ import annotations

import argparse

from vault_actions import config
from vault_actions.cli.commands import Result
from vault_actions.setup import pipeline
from vault_actions.text import plural


def configure(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common ones."""


def run(args: argparse.Namespace) -> Result:
    """Load the config, then check the workflows `vault init` generated from it;
    ConfigError (exit 2) when either is wrong."""
    cfg = config.load(args.config)
    workflows = cfg.repository / ".github/workflows"
    pipeline.check(cfg, workflows)
    generated = sorted(pipeline.generated(workflows))
    envs = " → ".join(e.name for e in cfg.promotion_order)
    mirrors = ", ".join(f"{m.name} (mirror of {m.mirror_of})" for m in cfg.mirrors)
    text = f"{cfg.path} is valid: {plural(len(cfg.services), 'service')}; {envs}"
    if mirrors:
        text += f"; {mirrors}"
    if generated:
        text += f"\nthe workflows follow it: {', '.join(generated)}"
    data = {
        "valid": True,
        "config": str(cfg.path),
        "services": [s.name for s in cfg.services],
        "environments": [e.name for e in cfg.environments],
        "workflows": generated,
    }
    return Result(data, text)
