"""The ``vault`` command line and the runner I/O of the composite actions."""

from vault_actions.cli.main import main

__all__ = ["main"]
