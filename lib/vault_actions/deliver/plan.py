"""The deploy plan use case (``vault deploy --plan``): what a deploy would do, with no write.

It runs the deploy's own read-only checks (``deliver.release.deploy`` calls the same
functions): the environment's account, the build's pinned release, the promotion policy
(alive, previous environment passed, bake time, approval) on the events that count, no
downgrade, the freeze windows, the rollout's alarms, and every function as it is now
(artifacts verified, functions found, bucket in their region). Every refusal is
collected, not only the first; the functions are compared alias by alias (the version
and CodeSha256 it serves against the release's). Nothing is recorded, nothing changes,
GitHub is not called (a gated environment's approval is read from the ledger only).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from vault_actions.config import BUILD_JOB
from vault_actions.deliver.lambdas import inspect_release
from vault_actions.deliver.preflight import check_account, pinned_release
from vault_actions.deliver.rollout import check_alarms
from vault_actions.errors import VaultActionsError
from vault_actions.promotion import authority
from vault_actions.promotion.live import Reader
from vault_actions.promotion.policy import check_forward, check_freeze
from vault_actions.store.ledger import Ledger
from vault_actions.store.vault import Vault

if TYPE_CHECKING:
    from vault_actions.config import Config, Environment
    from vault_actions.deliver.lambdas import Target
    from vault_actions.store.manifest import Manifest

T = TypeVar("T")
Clients = Callable[[str, str], Any]


@dataclass(frozen=True)
class Refusal:
    """Why the deploy would be refused: which check, what it says, what to do."""

    check: str
    message: str
    hint: str | None


@dataclass(frozen=True)
class Change:
    """One service's function: what its alias serves now and what the release brings."""

    service: str
    function: str
    alias: str
    current_version: str | None  # the alias's Lambda version (None: no alias yet)
    current_sha256: str | None
    new_sha256: str
    action: str  # "update", "create alias" or "unchanged"


@dataclass(frozen=True)
class Plan:
    """What ``vault deploy`` would do for ``version`` in ``environment``."""

    environment: str
    version: str
    commit: str | None
    rollout: str
    alarms: tuple[str, ...]
    changes: tuple[Change, ...]
    refusals: tuple[Refusal, ...]
    freeze_override: str | None = None  # the window a --override-freeze would break

    @property
    def proceeds(self) -> bool:
        """True when the deploy would go ahead."""
        return not self.refusals

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of ``vault deploy --plan --json``."""
        return {"environment": self.environment, "version": self.version,
                "commit": self.commit, "proceeds": self.proceeds, "rollout": self.rollout,
                "alarms": list(self.alarms), "freeze_override": self.freeze_override,
                "changes": [asdict(c) for c in self.changes],
                "refusals": [asdict(r) for r in self.refusals]}

    def text(self) -> str:
        """The terminal rendering: one line per function, then the verdict."""
        lines = [f"Plan: v{self.version} → {self.environment} ({self.rollout}"
                 + (f", watching {', '.join(self.alarms)}" if self.alarms else "") + "); "
                 "nothing was changed or recorded"]
        lines += [f"  {c.service}  {c.function}:{c.alias}  {c.action}: "
                  f"{c.current_version or '(no alias)'} {c.current_sha256 or '-'} → "
                  f"v{self.version} {c.new_sha256}" for c in self.changes]
        if self.freeze_override:
            lines.append(f"  ⚠ would override the freeze {self.freeze_override} (recorded)")
        if self.proceeds:
            lines.append(f"✅ the deploy would proceed ({_count(self.changes)})")
        else:
            lines.append(f"⛔ the deploy would be refused ({len(self.refusals)}):")
            for r in self.refusals:
                lines.append(f"  {r.check}: {r.message}")
                if r.hint:
                    lines.append(f"    → {r.hint}")
        return "\n".join(lines)


def _count(changes: tuple[Change, ...]) -> str:
    moving = sum(c.action != "unchanged" for c in changes)
    return f"{moving} of {len(changes)} functions would change"


class _Checks:
    """Runs checks, keeping each refusal instead of stopping at the first."""

    def __init__(self) -> None:
        self.refusals: list[Refusal] = []

    def run(self, check: str, call: Callable[[], T]) -> T | None:
        try:
            return call()
        except VaultActionsError as exc:
            self.refusals.append(Refusal(check, exc.message, exc.hint))
            return None


def plan(
    cfg: Config, env: Environment, version: str, *, clients: Clients, parallel: int,
    override_reason: str | None = None,
) -> Plan:
    """The deploy's checks and each function's change, without a single write."""
    checks = _Checks()
    if env.mirror_of is not None:
        checks.refusals.append(Refusal(
            "mirror", f"{env.name} mirrors {env.mirror_of}: it only ever runs the version "
            "live there", f"use `vault dr-sync --env {env.name}` (action-dr-sync)"))
    checks.run("account", lambda: check_account(clients, env))
    if checks.refusals and checks.refusals[-1].check == "account":  # nothing else is readable
        return Plan(env.name, version, None, env.rollout.describe(), env.rollout.alarms, (),
                    tuple(checks.refusals))
    s3 = clients("s3", cfg.vault.region)
    ledger = Ledger(s3, cfg.vault.bucket, cfg.vault.ledger_prefix)
    env_s3 = s3 if env.region == cfg.vault.region else clients("s3", env.region)
    vault = Vault(env_s3, env.bucket, env.region)
    manifest = checks.run("pinned release", lambda: pinned_release(
        vault, version, ledger.written_by(version, BUILD_JOB), protected=cfg.vault.protected))
    assessment = authority.read(cfg, ledger, version)
    checks.run("promotion policy",
               lambda: authority.check_promotion(cfg, assessment, env, version))
    checks.run("no downgrade", lambda: check_forward(
        assessment.journey(version), env, Reader(cfg, ledger).newer_live(env.name, version)))
    frozen = checks.run("freeze", lambda: check_freeze(env, override_reason=override_reason))
    lambda_ = clients("lambda", env.region)
    if env.rollout.gradual:
        checks.run("alarms", lambda: check_alarms(clients("cloudwatch", env.region), env))
    targets = [] if manifest is None else checks.run(
        "functions", lambda: _inspect(lambda_, vault, env, manifest, parallel)) or []
    return Plan(
        environment=env.name, version=version, commit=manifest.commit if manifest else None,
        rollout=env.rollout.describe(), alarms=env.rollout.alarms,
        changes=tuple(_change(t, env.alias) for t in targets),
        refusals=tuple(checks.refusals),
        freeze_override=f"{frozen[0].name!r} until {frozen[1]:%Y-%m-%d %H:%M}" if frozen else None,
    )


def _inspect(lambda_: Any, vault: Vault, env: Environment, manifest: Manifest,
             parallel: int) -> list[Target]:
    workers = max(1, min(parallel, len(manifest.artifacts)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="plan") as pool:
        return inspect_release(pool, lambda_, vault, env, manifest)


def _change(target: Target, alias: str) -> Change:
    if target.previous is None:
        action = "create alias"
    elif target.previous_sha256 == target.record.code_sha256:
        action = "unchanged"
    else:
        action = "update"
    return Change(target.service, target.function, alias, target.previous,
                  target.previous_sha256, target.record.code_sha256, action)
