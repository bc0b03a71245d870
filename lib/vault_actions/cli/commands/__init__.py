"""One module per ``vault`` sub-command: ``configure(parser)`` and ``run(args) -> Result``.

Command modules import boto3 and PyGithub only inside ``run`` so that ``vault --help``
stays fast. A module that backs a GitHub Action also has ``run_action() -> int``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vault_actions.config import Config
    from vault_actions.store.ledger import Ledger


@dataclass(frozen=True)
class Result:
    """What a command returns: data for ``--json``, text for people, an exit code."""

    data: Any
    text: str
    exit_code: int = 0


def open_ledger(cfg: Config) -> Ledger:
    """The ledger in the vault bucket of ``cfg``, with an S3 client for the vault's region."""
    from vault_actions.integrations import aws
    from vault_actions.store.ledger import Ledger

    return Ledger(aws.client("s3", cfg.vault.region), cfg.vault.bucket, cfg.vault.ledger_prefix)
