"""The one exception hierarchy: every error a user sees is a VaultActionsError."""

from __future__ import annotations


class VaultActionsError(Exception):
    """Base of every error this suite raises on purpose.

    The message says what was wrong (with the offending value); ``hint`` says what to do.
    """

    title = "vault-actions"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class ConfigError(VaultActionsError):
    """vault.yml or an action input is invalid: the user can fix it."""

    title = "Invalid configuration"


class VersionError(VaultActionsError):
    """The release version cannot be computed or is not acceptable."""

    title = "Version error"


class GitError(VaultActionsError):
    """A git command failed."""

    title = "Git error"


class BuildError(VaultActionsError):
    """A service's build command failed."""

    title = "Build failed"


class ArtifactError(VaultActionsError):
    """A dist folder cannot be packed into a release zip."""

    title = "Artifact refused"


class VaultError(VaultActionsError):
    """The S3 vault refused or failed an operation."""

    title = "Vault error"


class ImmutableVersionError(VaultError):
    """The version already exists in the vault and can never be overwritten."""

    title = "Version is immutable"


class TamperError(VaultError):
    """A vault object no longer matches what the manifest recorded."""

    title = "Vault object tampered"


class PromotionRefused(VaultActionsError):
    """The ledger's promotion policy forbids this step."""

    title = "Promotion refused"


class DeployError(VaultActionsError):
    """A Lambda deploy failed."""

    title = "Deploy failed"


class SmokeFailed(VaultActionsError):
    """A smoke test failed: the version dies in this environment."""

    title = "Smoke test failed"


class GitHubError(VaultActionsError):
    """The GitHub API refused or could not be reached."""

    title = "GitHub API error"


class AttestationError(VaultActionsError):
    """Who wrote a ledger event cannot be proven (no token, a token that does not verify)."""

    title = "Ledger proof error"
