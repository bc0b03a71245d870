"""Emergency rollback: put an environment back on a version that passed there, from the
vault's bytes, without rebuilding.

Each service's alias moves once, to the Lambda version already published for that
version (its CodeSha256 checked against the manifest). When one is gone or holds other
bytes, the whole release is re-published from the pinned vault objects instead
(``deliver.lambdas``). Either way every alias ends on exactly the manifest's bytes, with
no weighted routing left behind; if an alias move fails, the ones already moved go back.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vault_actions.deliver.lambdas import (
    CONFLICT,
    DEFAULT_PARALLEL,
    NOT_FOUND,
    DeployResult,
    ServiceResult,
    deploy_release,
    routing,
)
from vault_actions.errors import DeployError
from vault_actions.integrations import aws

if TYPE_CHECKING:
    from vault_actions.config import Environment
    from vault_actions.store.ledger import Event
    from vault_actions.store.manifest import ArtifactRecord
    from vault_actions.store.vault import Vault

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RollbackResult:
    """An environment put back on ``to`` (``republished``: from the vault objects)."""

    deploy: DeployResult
    republished: bool
    seconds: float


@dataclass(frozen=True)
class _Move:
    record: ArtifactRecord
    function: str
    target: str | None  # the published Lambda version holding the bytes, if still there
    serving: str | None  # what the alias serves now


def roll_back(
    lambda_: Any, vault: Vault, env: Environment, version: str, deployed: Event | None,
    *, parallel: int = DEFAULT_PARALLEL,
) -> RollbackResult:
    """Point every alias of ``env`` at release ``version``'s bytes; ``deployed`` is that
    version's latest ``deployed`` event there (its rows name the published versions)."""
    started = time.monotonic()
    manifest = vault.require_manifest(version)
    published = {r["service"]: r.get("version") for r in
                 (deployed.details.get("functions", ()) if deployed else ())}
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(manifest.artifacts)))) as pool:
        for record in manifest.artifacts:
            vault.verify(record)
        moves = list(pool.map(
            lambda r: _plan(lambda_, env, r, published.get(r.service)), manifest.artifacts))
        if any(m.target is None for m in moves):
            gone = ", ".join(m.function for m in moves if m.target is None)
            log.warning("v%s: no published version with its bytes in %s; re-publishing "
                        "from the vault", version, gone)
            result = deploy_release(lambda_, vault, env, version, parallel=parallel)
            return RollbackResult(result, True, round(time.monotonic() - started, 3))
        results = list(pool.map(lambda m: _move(lambda_, env, m), moves))
        if any(r.status == "failed" for r in results):
            results = list(pool.map(lambda mr: _undo(lambda_, env, *mr), zip(moves, results,
                                                                            strict=True)))
    deploy = DeployResult(version, manifest.commit, env.name, env.alias, tuple(results))
    return RollbackResult(deploy, False, round(time.monotonic() - started, 3))


def _plan(lambda_: Any, env: Environment, record: ArtifactRecord, version: str | None) -> _Move:
    """Which published version holds ``record``'s bytes (checked by CodeSha256)."""
    from botocore.exceptions import ClientError

    function = env.functions[record.service]
    try:
        alias = lambda_.get_alias(FunctionName=function, Name=env.alias)
        serving = str(alias["FunctionVersion"])
    except ClientError as exc:
        if aws.error_code(exc) not in NOT_FOUND:
            raise
        serving = None
    if version is None:
        return _Move(record, function, None, serving)
    try:
        found = lambda_.get_function_configuration(FunctionName=function, Qualifier=version)
    except ClientError as exc:
        if aws.error_code(exc) not in NOT_FOUND:
            raise
        return _Move(record, function, None, serving)
    if found["CodeSha256"] != record.code_sha256:
        log.warning("%s version %s holds CodeSha256 %s, not %s's %s", function, version,
                    found["CodeSha256"], record.key, record.code_sha256)
        return _Move(record, function, None, serving)
    return _Move(record, function, version, serving)


def _move(lambda_: Any, env: Environment, move: _Move) -> ServiceResult:
    from botocore.exceptions import BotoCoreError, ClientError

    assert move.target is not None
    status: Any = "deployed"
    error = None
    try:
        aws.retry_codes(
            lambda: lambda_.update_alias(FunctionName=move.function, Name=env.alias,
                                         **routing(str(move.target), str(move.target), None))
            if move.serving is not None else
            lambda_.create_alias(FunctionName=move.function, Name=env.alias,
                                 FunctionVersion=move.target),
            CONFLICT, f"{move.record.service}: roll back {move.function}",
        )
        log.warning("%s: %s:%s → version %s (%s)", move.record.service, move.function,
                    env.alias, move.target, move.record.key)
    except (ClientError, BotoCoreError) as exc:
        status, error = "failed", str(exc)
    return ServiceResult(move.record.service, move.function, env.alias,
                         move.target if status == "deployed" else move.serving,
                         move.record.code_sha256, status, move.serving, error)


def _undo(lambda_: Any, env: Environment, move: _Move, result: ServiceResult) -> ServiceResult:
    """Put a moved alias back where it was (the rollback failed elsewhere)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if result.status != "deployed" or move.serving is None:
        return result
    try:
        lambda_.update_alias(FunctionName=move.function, Name=env.alias,
                             **routing(move.serving, move.serving, None))
    except (ClientError, BotoCoreError) as exc:
        return ServiceResult(result.service, result.function, env.alias, result.function_version,
                             result.code_sha256, "restore_failed", move.serving, str(exc))
    return ServiceResult(result.service, result.function, env.alias, move.serving,
                         result.code_sha256, "restored", move.serving)


def check_rolled_back(result: RollbackResult) -> None:
    """DeployError when the environment does not serve the rollback's version everywhere."""
    deploy = result.deploy
    if deploy.ok:
        return
    failed = "; ".join(f"{s.function}: {s.error}" for s in deploy.having("failed",
                                                                          "restore_failed"))
    raise DeployError(
        f"the rollback of {deploy.environment} to v{deploy.version} failed: {failed}",
        "the environment serves what it served before (see the rows); fix the cause and "
        "run the rollback again",
    )
