"""vault-actions: deliver AWS Lambda services through an immutable S3 vault."""

from vault_actions.errors import VaultActionsError

__all__ = ["VaultActionsError", "__version__"]
__version__ = "1.0.0"
