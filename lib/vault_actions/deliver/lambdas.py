"""Lambda: update code from the vault, publish, move the alias, roll back on failure.

Everything is checked before anything changes (manifest, tamper check, functions,
bucket region). Services then deploy in parallel; if one fails, or the run is cancelled
(SIGINT/SIGTERM), no update starts any more and every alias already moved is put back,
so an environment never serves a mixed release. What could not be put back is reported
with the command that does it by hand.

One piece (over 400 lines): inspecting, updating, publishing, moving and restoring share
one run's state (``_Run``: what has changed so far is exactly what a failure restores).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from vault_actions.errors import ConfigError, DeployError, TamperError, VaultActionsError
from vault_actions.integrations import aws
from vault_actions.text import plural

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

    from vault_actions.config import Environment
    from vault_actions.context import Cancellation
    from vault_actions.store.manifest import ArtifactRecord, Manifest
    from vault_actions.store.vault import Vault

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PARALLEL = 8
CONFLICT = ("ResourceConflictException",)
NOT_FOUND = ("ResourceNotFoundException",)
WAIT_DELAY_SECONDS = 1
WAIT_MAX_ATTEMPTS = 300
PERMISSIONS_HINT = (
    "grant the workflow's role lambda:GetFunction, lambda:GetAlias, lambda:UpdateFunctionCode, "
    "lambda:PublishVersion, lambda:CreateAlias, lambda:UpdateAlias, lambda:DeleteAlias and "
    "s3:GetObjectVersion on the vault bucket"
)

Status = Literal["deployed", "unchanged", "restored", "failed", "skipped", "restore_failed"]


@dataclass(frozen=True)
class Target:
    """One service's function as it was before the deploy."""

    service: str
    function: str
    record: ArtifactRecord
    region: str
    revision_id: str | None
    previous: str | None
    alias_revision_id: str | None
    previous_sha256: str | None


@dataclass(frozen=True)
class ServiceResult:
    """What happened to one service's function.

    ``function_version`` is the Lambda version the alias serves after the deploy
    (the previous one when restored); ``previous`` is what it served before.
    """

    service: str
    function: str
    alias: str
    function_version: str | None
    code_sha256: str
    status: Status
    previous: str | None = None
    error: str | None = None
    region: str | None = None

    def fix(self) -> str:
        """The AWS CLI command that points the alias back at what it served before."""
        region = f" --region {self.region}" if self.region else ""
        if self.previous is None:
            return (f"aws lambda delete-alias --function-name {self.function} "
                    f"--name {self.alias}{region}")
        return (f"aws lambda update-alias --function-name {self.function} --name {self.alias} "
                f"--function-version {self.previous}{region}")

    def row(self) -> dict[str, Any]:
        """Service, function, alias, the Lambda version it serves, CodeSha256, status."""
        row = {
            "service": self.service,
            "function": self.function,
            "alias": self.alias,
            "version": self.function_version,
            "code_sha256": self.code_sha256,
            "status": self.status,
        }
        return {**row, "error": self.error} if self.error else row


@dataclass(frozen=True)
class DeployResult:
    """A release deployed (or not) to one environment."""

    version: str
    commit: str
    environment: str
    alias: str
    services: tuple[ServiceResult, ...]
    cancelled: str | None = None  # the signal that stopped the deploy (SIGINT, SIGTERM)
    unrecorded: str | None = None  # why the ledger could not record the outcome

    @property
    def ok(self) -> bool:
        """True when every service serves the release."""
        return self.cancelled is None and all(
            s.status in ("deployed", "unchanged") for s in self.services
        )

    @property
    def unchanged(self) -> bool:
        """True when every alias already served the release (a rerun)."""
        return all(s.status == "unchanged" for s in self.services)

    def functions(self) -> list[dict[str, Any]]:
        """One row per service (``ServiceResult.row``): what the action outputs."""
        return [s.row() for s in self.services]

    def having(self, *statuses: Status) -> tuple[ServiceResult, ...]:
        """The services whose status is one of ``statuses``."""
        return tuple(s for s in self.services if s.status in statuses)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "version": self.version,
            "commit": self.commit,
            "environment": self.environment,
            "alias": self.alias,
            "ok": self.ok,
            "cancelled": self.cancelled,
            "services": [asdict(s) for s in self.services],
        }


def deploy_release(
    lambda_: Any,
    vault: Vault,
    env: Environment,
    version: str,
    *,
    parallel: int = DEFAULT_PARALLEL,
    weight: float | None = None,
    cancel: Cancellation | None = None,
) -> DeployResult:
    """Deploy every service of release ``version`` to ``env``'s functions.

    ``vault`` is the bucket the environment's functions read from (``env.bucket``).
    With a ``weight`` (0 to 1), an alias that served a version keeps serving it and routes
    only that share of traffic to the new one (``deliver.rollout`` shifts the rest).
    Raises before changing anything when a check fails; otherwise returns a result
    whose ``ok`` is False when a service failed, or ``cancel`` was requested while the
    aliases moved (``cancelled`` then names the signal), and the others were restored.
    """
    if parallel < 1:
        raise ConfigError(f"parallel is {parallel}", "use a pool size of 1 or more")
    manifest = vault.require_manifest(version)
    workers = min(parallel, len(manifest.artifacts))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy") as pool:
        targets = inspect_release(pool, lambda_, vault, env, manifest)
        log.info("deploying v%s to %s (%d services, %d at a time)",
                 version, env.name, len(targets), workers)
        run = _Run(lambda_, vault.bucket, env.alias, version, cancel=cancel, weight=weight)
        with run.cancel.watch():
            results = run.deploy_all(pool, targets)
            if run.cancel.requested or any(r.status == "failed" for r in results):
                results = run.restore_all(pool, targets, results)
    if run.unexpected is not None:
        raise run.unexpected
    return DeployResult(version, manifest.commit, env.name, env.alias, tuple(results),
                        cancelled=run.cancel.signal if run.cancel.requested else None)


def inspect_release(
    pool: ThreadPoolExecutor, lambda_: Any, vault: Vault, env: Environment, manifest: Manifest,
) -> list[Target]:
    """Every read-only check of a deploy, and each service's function as it is now: the
    artifacts verified, every function found, the bucket in their region (raises else)."""
    functions = _functions(manifest, env)
    records = {r.service: r for r in manifest.artifacts}
    _all(pool, vault.verify, (records[s] for s in functions))
    targets = _inspect_all(pool, lambda_, env, functions, records)
    _check_bucket_region(vault, targets)
    return targets


def _functions(manifest: Manifest, env: Environment) -> dict[str, str]:
    """service -> function, for every artifact of the release."""
    unmapped = [a.service for a in manifest.artifacts if a.service not in env.functions]
    if unmapped:
        raise ConfigError(
            f"environment {env.name!r} has no function for service(s) {', '.join(unmapped)} "
            f"of v{manifest.version}",
            f"map every service of the release under environments.{env.name}.functions "
            "in vault.yml",
        )
    skipped = sorted(set(env.functions) - {a.service for a in manifest.artifacts})
    if skipped:
        log.warning("v%s has no artifact for %s: those functions are left as they are",
                    manifest.version, ", ".join(skipped))
    return {a.service: env.functions[a.service] for a in manifest.artifacts}


def _all(pool: ThreadPoolExecutor, call: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    """``call`` on every item in the pool; the first error (in item order) is raised."""
    return [f.result() for f in [pool.submit(call, item) for item in items]]


def _inspect_all(
    pool: ThreadPoolExecutor,
    lambda_: Any,
    env: Environment,
    functions: dict[str, str],
    records: dict[str, ArtifactRecord],
) -> list[Target]:
    found = _all(
        pool,
        lambda service: _inspect(lambda_, service, functions[service], records[service], env.alias),
        functions,
    )
    missing = [f"{s} → {functions[s]}" for s, t in zip(functions, found, strict=True) if t is None]
    if missing:
        raise DeployError(
            f"{plural(len(missing), 'function')} missing in environment {env.name!r} "
            f"({env.region}): {', '.join(missing)}; nothing was changed",
            f"create the functions first, or fix environments.{env.name}.functions "
            "(and region) in vault.yml",
        )
    return [t for t in found if t is not None]


def _inspect(
    lambda_: Any, service: str, function: str, record: ArtifactRecord, alias: str
) -> Target | None:
    """The function's state, or None when it does not exist."""
    from botocore.exceptions import ClientError

    try:
        config = lambda_.get_function(FunctionName=function)["Configuration"]
        alias_config = _alias(lambda_, function, alias)
        previous = alias_config.get("FunctionVersion") if alias_config else None
        previous_sha = (
            lambda_.get_function_configuration(FunctionName=function, Qualifier=previous)[
                "CodeSha256"
            ]
            if previous
            else None
        )
    except ClientError as exc:
        if aws.error_code(exc) in NOT_FOUND:
            return None
        raise _explain(exc, f"reading function {function!r}") from None
    return Target(
        service=service,
        function=function,
        record=record,
        region=str(config["FunctionArn"]).split(":")[3],
        revision_id=config.get("RevisionId"),
        previous=previous,
        alias_revision_id=alias_config.get("RevisionId") if alias_config else None,
        previous_sha256=previous_sha,
    )


def _alias(lambda_: Any, function: str, alias: str) -> dict[str, Any] | None:
    """GetAlias, or None when the alias does not exist."""
    from botocore.exceptions import ClientError

    try:
        return dict(lambda_.get_alias(FunctionName=function, Name=alias))
    except ClientError as exc:
        if aws.error_code(exc) in NOT_FOUND:
            return None
        raise


def _check_bucket_region(vault: Vault, targets: Sequence[Target]) -> None:
    """Lambda reads code only from a bucket in the function's own region."""
    bucket_region = vault.location()
    elsewhere = [f"{t.function} ({t.region})" for t in targets if t.region != bucket_region]
    if elsewhere:
        raise DeployError(
            f"bucket {vault.bucket!r} is in {bucket_region}, but Lambda only reads code "
            f"from its own region: {', '.join(elsewhere)}; nothing was changed",
            "give this environment a bucket in the functions' region (environments[].bucket; "
            "`vault dr-sync` copies releases there) or fix its region in vault.yml",
        )


def _explain(exc: ClientError, what: str) -> DeployError:
    code = aws.error_code(exc)
    hint = PERMISSIONS_HINT if "AccessDenied" in code else None
    return DeployError(f"{what} failed: {aws.describe(exc)}", hint)


class _Run:
    """One deploy of one release to one environment's alias."""

    def __init__(
        self, lambda_: Any, bucket: str, alias: str, version: str,
        *, cancel: Cancellation | None = None, weight: float | None = None,
    ) -> None:
        from vault_actions.context import Cancellation

        self.lambda_ = lambda_
        self.weight = weight
        self.bucket = bucket
        self.alias = alias
        self.version = version
        self.cancel = cancel or Cancellation()
        self.stop = threading.Event()
        self.moving: set[str] = set()  # functions whose alias this run asked Lambda to move
        self.unexpected: BaseException | None = None

    def halted(self) -> bool:
        """True after a failure or a cancellation request: start no more updates."""
        return self.stop.is_set() or self.cancel.requested

    def deploy_all(
        self, pool: ThreadPoolExecutor, targets: Sequence[Target]
    ) -> list[ServiceResult]:
        """Deploy in the pool; after the first failure or a cancellation, services not yet
        started are skipped."""
        futures = [pool.submit(self.deploy, t) for t in targets]
        return [self._outcome(f, t, "failed") for f, t in zip(futures, targets, strict=True)]

    def restore_all(
        self, pool: ThreadPoolExecutor, targets: Sequence[Target], results: Sequence[ServiceResult]
    ) -> list[ServiceResult]:
        """Put back every alias this run may have moved; untouched services keep their result."""
        futures = [
            pool.submit(self.restore, t, r) if t.function in self.moving else None
            for t, r in zip(targets, results, strict=True)
        ]
        return [
            self._outcome(f, t, "restore_failed") if f is not None else r
            for f, t, r in zip(futures, targets, results, strict=True)
        ]

    def _outcome(
        self, future: Future[ServiceResult], target: Target, status: Status
    ) -> ServiceResult:
        """The future's result; an unexpected error is kept (raised after restoring)."""
        exc = future.exception()
        if exc is None:
            return future.result()
        self.unexpected = self.unexpected or exc
        return self._result(target, status, None, error=f"{type(exc).__name__}: {exc}")

    def deploy(self, target: Target) -> ServiceResult:
        """Update, wait, publish, check CodeSha256, move the alias."""
        from botocore.exceptions import BotoCoreError, ClientError

        if target.previous_sha256 == target.record.code_sha256:
            log.info("%s: %s:%s already serves these bytes (version %s)",
                     target.service, target.function, self.alias, target.previous)
            return self._result(target, "unchanged", target.previous)
        if self.halted():
            return self._result(target, "skipped", target.previous)
        try:
            published = self._publish(target)
            if published is None or self.cancel.requested:  # the alias was not moved
                return self._result(target, "skipped", target.previous)
            self._move_alias(target, published)
        except (ClientError, BotoCoreError, VaultActionsError) as exc:
            self.stop.set()
            error = _describe(exc)
            log.error("%s: deploy to %s failed: %s", target.service, target.function, error)
            return self._result(target, "failed", target.previous, error=error)
        except BaseException:
            self.stop.set()
            raise
        log.info("%s: %s:%s → version %s", target.service, target.function, self.alias, published)
        return self._result(target, "deployed", published)

    def _updated(self, target: Target) -> bool:
        """Wait for the code update (like the function_updated_v2 waiter, but a cancellation
        ends the wait at once: False)."""
        for _ in range(WAIT_MAX_ATTEMPTS):
            config = self.lambda_.get_function(FunctionName=target.function)["Configuration"]
            status = config.get("LastUpdateStatus", "Successful")
            if status == "Successful":
                return True
            if status == "Failed":
                raise DeployError(f"updating the code of {target.function} failed: "
                                  f"{config.get('LastUpdateStatusReason', 'no reason given')}")
            if self.cancel.wait(WAIT_DELAY_SECONDS):
                return False
        raise DeployError(f"the code update of {target.function} did not finish in "
                          f"{WAIT_DELAY_SECONDS * WAIT_MAX_ATTEMPTS} s")

    def _publish(self, target: Target) -> str | None:
        """UpdateFunctionCode from the pinned object version, wait, PublishVersion, check;
        None when cancelled while waiting."""
        record = target.record
        update: dict[str, Any] = {
            "FunctionName": target.function,
            "S3Bucket": self.bucket,
            "S3Key": record.key,
            "S3ObjectVersion": record.version_id,
            "Publish": False,
        }
        if target.revision_id:
            update["RevisionId"] = target.revision_id
        self._retry(lambda: self.lambda_.update_function_code(**update), "update", target)
        if not self._updated(target):
            return None
        published = self._retry(
            lambda: self.lambda_.publish_version(
                FunctionName=target.function,
                CodeSha256=record.code_sha256,
                Description=f"v{self.version}",
            ),
            "publish",
            target,
        )
        if published["CodeSha256"] != record.code_sha256:
            raise TamperError(
                f"{target.function} version {published['Version']} runs code with CodeSha256 "
                f"{published['CodeSha256']!r}, but v{self.version} recorded "
                f"{record.code_sha256!r} for {record.key}",
                "the vault object changed during the deploy: do not deploy this version; "
                "investigate who writes to the vault and release a new version",
            )
        return str(published["Version"])

    def _move_alias(self, target: Target, function_version: str) -> None:
        """CreateAlias or UpdateAlias; ``moving`` keeps the function unless Lambda refused
        the call (a 4xx answer changed nothing)."""
        from botocore.exceptions import ClientError

        self.moving.add(target.function)
        args: dict[str, Any] = {
            "FunctionName": target.function,
            "Name": self.alias,
            "FunctionVersion": function_version,
        }
        if target.alias_revision_id and target.previous is not None:
            args["RevisionId"] = target.alias_revision_id
        create = target.previous is None
        if not create:
            args.update(routing(str(target.previous), function_version, self.weight))
        call = self.lambda_.create_alias if create else self.lambda_.update_alias
        try:
            self._retry(lambda: call(**args), "create alias" if create else "move alias", target)
        except ClientError as exc:
            if 400 <= aws.http_status(exc) < 500:
                self.moving.discard(target.function)
            raise

    def restore(self, target: Target, result: ServiceResult) -> ServiceResult:
        """Point the alias back at its previous version (delete it if it was new)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            current = _alias(self.lambda_, target.function, self.alias)
            serving = current.get("FunctionVersion") if current else None
            if serving == target.previous:
                return result
            if target.previous is None:
                self._retry(
                    lambda: self.lambda_.delete_alias(
                        FunctionName=target.function, Name=self.alias
                    ),
                    "delete alias",
                    target,
                )
            else:
                self._retry(
                    lambda: self.lambda_.update_alias(
                        FunctionName=target.function, Name=self.alias,
                        **routing(str(target.previous), str(target.previous), None),
                    ),
                    "restore alias",
                    target,
                )
        except (ClientError, BotoCoreError) as exc:
            error = _describe(exc)
            log.error("%s: could not restore %s:%s: %s",
                      target.service, target.function, self.alias, error)
            return self._result(target, "restore_failed", result.function_version, error=error)
        log.warning("%s: %s:%s restored to %s", target.service, target.function, self.alias,
                    target.previous or "(no alias: removed)")
        status: Status = "failed" if result.status == "failed" else "restored"
        return self._result(target, status, target.previous, error=result.error)

    def _retry(self, call: Callable[[], T], what: str, target: Target) -> T:
        return aws.retry_codes(call, CONFLICT, f"{target.service}: {what} {target.function}")

    def _result(
        self, target: Target, status: Status, function_version: str | None, error: str | None = None
    ) -> ServiceResult:
        return ServiceResult(
            service=target.service,
            function=target.function,
            alias=self.alias,
            function_version=function_version,
            code_sha256=target.record.code_sha256,
            status=status,
            previous=target.previous,
            error=error,
            region=target.region,
        )


def routing(previous: str, new: str, weight: float | None) -> dict[str, Any]:
    """UpdateAlias arguments: all traffic on ``new`` (``weight`` None, clearing any
    routing left behind: UpdateAlias keeps it otherwise), or ``weight`` of it on ``new``
    and the rest on ``previous``."""
    if weight is None or previous == new:
        return {"FunctionVersion": new, "RoutingConfig": {"AdditionalVersionWeights": {}}}
    return {"FunctionVersion": previous,
            "RoutingConfig": {"AdditionalVersionWeights": {new: round(weight, 5)}}}


def _describe(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    return aws.describe(exc) if isinstance(exc, ClientError) else str(exc)
