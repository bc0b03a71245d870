"""What a deploy checks in the vault before anything is recorded or changed.

The release must exist (a typo never leaves an event), the bucket must keep its
protections (unless vault.yml says the vault is unprotected: demos and tests), no key of
the version may have a second S3 version (put-once never makes one), and the manifest is
read by the S3 version its ``built`` event pinned, with the digests it recorded. (The
ledger's own keys need no such check: its reads take each key's first version.)
Before all of that, an environment with its own AWS account is refused credentials of
another account (``check_account``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vault_actions.errors import CredentialsError, TamperError, VaultError
from vault_actions.store.manifest import Manifest, Pin, manifest_key, version_prefix

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vault_actions.config import Environment
    from vault_actions.store.ledger import Event
    from vault_actions.store.vault import Vault

log = logging.getLogger(__name__)


def check_account(clients: Callable[[str, str], Any], env: Environment) -> None:
    """CredentialsError when ``env`` names its AWS account and the credentials are of
    another (before any write: the ledger, the functions, GitHub)."""
    from vault_actions.integrations import aws

    expected = env.aws_account
    if expected is None:
        return
    found = aws.caller_account(clients("sts", env.region))
    if found != expected:
        raise CredentialsError(
            f"{env.name} lives in AWS account {expected}, but these credentials are of "
            f"account {found}; nothing was recorded or changed",
            f"run the {env.name} job with its deploy role {env.role_arn('')} (the "
            "workflow's role-to-assume for this environment; infra/stage.yaml creates it in "
            f"account {expected}), or fix environments[{env.name}].account in vault.yml",
        )


def pinned_release(vault: Vault, version: str, built: Sequence[Event], *,
                   protected: bool) -> Manifest:
    """The release ``version`` exactly as built (``built``: its build job's events);
    VaultError/TamperError refuse it."""
    if vault.find(manifest_key(version)) is None:
        raise VaultError(
            f"v{version} was never built: {vault.uri(manifest_key(version))} does not exist",
            "check the version (`vault status` lists the releases); nothing was recorded",
        )
    if protected:
        vault.check_protected()
    else:
        log.warning("vault.protected is false: %s is not checked for versioning, object lock "
                    "and the put-once policy (demo and test vaults only)", vault.uri(""))
    vault.check_untouched(version_prefix(version))
    pins = [p for e in built if e.event == "built"
            if (p := Pin.from_details(e.details)) is not None]
    if not pins:
        raise VaultError(
            f"v{version} has no built event naming its manifest's S3 version, so the bytes "
            "to deploy cannot be told from a replacement",
            "rerun the build of its commit: the release is complete and is not rebuilt, "
            "the build only records its built event",
        )
    if any(p != pins[0] for p in pins):
        raise TamperError(
            f"v{version} has built events naming different manifests "
            f"({', '.join(sorted({p.manifest_version_id for p in pins}))}): one build owns "
            "a version, so one of them is forged",
            "do not deploy this version; run `vault verify` and release a new version",
        )
    return vault.pinned_manifest(version, pins[0])
