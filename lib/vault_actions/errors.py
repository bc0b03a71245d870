"""The one exception hierarchy: every error a user sees is a VaultActionsError.

Each class carries the exit code ``vault`` returns for it (``ExitCode``), so a script
can tell a bad config from a refused promotion, a failed test or a broken cloud.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``vault`` exits with; ``EXIT_CODES`` is the table shown in ``--help``."""

    OK = 0
    OTHER = 1
    USAGE = 2
    REFUSED = 3
    CHECK_FAILED = 4
    INFRASTRUCTURE = 5
    SIGINT = 130
    SIGTERM = 143


EXIT_CODES = """\
exit codes:
  0    success
  1    any other error (a build command failed, an unexpected error)
  2    usage or configuration: bad arguments, invalid vault.yml or action input
  3    refused by policy: promotion refused, version immutable, artifact refused,
       dirty work tree, vault object tampered, ledger proof missing or invalid
  4    a check or test failed: smoke test, vault doctor, vault evidence
  5    infrastructure: AWS (credentials, vault, Lambda deploy), GitHub or git error
  130  interrupted (SIGINT); 143 terminated (SIGTERM): moved aliases are restored first"""


class VaultActionsError(Exception):
    """Base of every error this suite raises on purpose.

    The message says what was wrong (with the offending value); ``hint`` says what to do.
    """

    title = "vault-actions"
    exit_code = ExitCode.OTHER

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class ConfigError(VaultActionsError):
    """vault.yml or an action input is invalid: the user can fix it."""

    title = "Invalid configuration"
    exit_code = ExitCode.USAGE


class VersionError(VaultActionsError):
    """The release version cannot be computed or is not acceptable."""

    title = "Version error"
    exit_code = ExitCode.USAGE


class GitError(VaultActionsError):
    """A git command failed."""

    title = "Git error"
    exit_code = ExitCode.INFRASTRUCTURE


class BuildError(VaultActionsError):
    """A service's build command failed."""

    title = "Build failed"


class DirtyWorkTree(BuildError):
    """The work tree has uncommitted changes: a release must be exactly a commit."""

    title = "Work tree is dirty"
    exit_code = ExitCode.REFUSED


class ArtifactError(VaultActionsError):
    """A dist folder cannot be packed into a release zip."""

    title = "Artifact refused"
    exit_code = ExitCode.REFUSED


class VaultError(VaultActionsError):
    """The S3 vault refused or failed an operation."""

    title = "Vault error"
    exit_code = ExitCode.INFRASTRUCTURE


class ImmutableVersionError(VaultError):
    """The version already exists in the vault and can never be overwritten."""

    title = "Version is immutable"
    exit_code = ExitCode.REFUSED


class TamperError(VaultError):
    """A vault object no longer matches what the manifest recorded."""

    title = "Vault object tampered"
    exit_code = ExitCode.REFUSED


class PromotionRefused(VaultActionsError):
    """The ledger's promotion policy forbids this step."""

    title = "Promotion refused"
    exit_code = ExitCode.REFUSED


class DeployError(VaultActionsError):
    """A Lambda deploy failed."""

    title = "Deploy failed"
    exit_code = ExitCode.INFRASTRUCTURE


class SmokeFailed(VaultActionsError):
    """A smoke test failed: the version dies in this environment."""

    title = "Smoke test failed"
    exit_code = ExitCode.CHECK_FAILED


class GitHubError(VaultActionsError):
    """The GitHub API refused or could not be reached."""

    title = "GitHub API error"
    exit_code = ExitCode.INFRASTRUCTURE


class AttestationError(VaultActionsError):
    """Who wrote a ledger event cannot be proven (no token, a token that does not verify)."""

    title = "Ledger proof error"
    exit_code = ExitCode.REFUSED


class CredentialsError(VaultActionsError):
    """No AWS credentials, or AWS refused them (expired, invalid)."""

    title = "AWS credentials"
    exit_code = ExitCode.INFRASTRUCTURE


class Cancelled(VaultActionsError):
    """The run was cancelled (SIGINT/SIGTERM) after it had started changing things; what it
    put back, and anything it could not, is in the message."""

    title = "Cancelled"

    def __init__(self, message: str, hint: str | None = None, *, signal: str) -> None:
        super().__init__(message, hint)
        self.exit_code = ExitCode.SIGTERM if signal == "SIGTERM" else ExitCode.SIGINT


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM where nothing needs putting back: stop at once."""

    def __init__(self, signal: str) -> None:
        super().__init__(signal)
        self.signal = signal
        self.exit_code = ExitCode.SIGTERM if signal == "SIGTERM" else ExitCode.SIGINT
