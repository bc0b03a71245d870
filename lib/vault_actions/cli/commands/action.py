"""``vault action NAME``: the entry point the composite actions call.

Each action's inputs arrive as ``INPUT_*`` variables set in its ``env:`` block; the
command module reads them once into a frozen dataclass and writes the step outputs.
"""

from __future__ import annotations

import argparse
import importlib

from vault_actions.cli.commands import Result

ACTIONS = {
    "build": "build",
    "deploy": "deploy",
    "smoke": "smoke",
    "dr-sync": "dr_sync",
    "report": "conclude",
    "gate": "gate",
    "rollback": "rollback",
}


def configure(parser: argparse.ArgumentParser) -> None:
    """The action's name."""
    parser.add_argument("name", choices=sorted(ACTIONS))


def run(args: argparse.Namespace) -> Result:
    """Run the action's ``run_action`` (inputs from the environment)."""
    module = importlib.import_module(f"vault_actions.cli.commands.{ACTIONS[args.name]}")
    result: Result = module.run_action()
    return result
