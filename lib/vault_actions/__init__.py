"""vault-actions: deliver AWS Lambda services through an immutable S3 vault.

The version lives in one place, ``pyproject.toml``'s ``project.version``: ``__version__``
reads the installed package's metadata on first use (only ``vault --version`` and
``vault init`` need it, so ``vault --help`` does not pay for ``importlib.metadata``).
"""

from vault_actions.errors import VaultActionsError

__all__ = ["VaultActionsError", "__version__"]


def __getattr__(name: str) -> str:
    """``__version__``, from the installed distribution's metadata."""
    if name == "__version__":
        from importlib.metadata import version  # lazy: only --version needs it

        return version("vault-actions")
    raise AttributeError(f"module 'vault_actions' has no attribute {name!r}")
