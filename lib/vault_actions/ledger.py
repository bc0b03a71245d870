"""The ledger: an append-only record of every release's journey, and the promotion policy.

Each event is its own put-once JSON object, ``ledger/v<version>/<time>-<uuid>.json`` in the
vault bucket, so concurrent writers never lose one and nothing is ever modified or
deleted. Everything else (journeys, what is live where, who may go where) is derived from
the events and never stored beside them.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import semver

from vault_actions.errors import PromotionRefused, VaultError, VersionError
from vault_actions.manifest import version_prefix
from vault_actions.vault import Vault, b64_sha256
from vault_actions.version import validate_version

if TYPE_CHECKING:

    from vault_actions.config import Config, Environment
    from vault_actions.gha import RunContext

log = logging.getLogger(__name__)

SCHEMA = 1
EVENTS = (
    "built", "deployed", "deploy_failed", "smoke_passed", "smoke_failed",
    "approved", "rejected", "rolled_back", "dr_synced", "cancelled",
)
FATAL = frozenset({"smoke_failed", "rejected", "cancelled"})
# Events that put a version's code live in their environment (DR sync deploys to DR).
LIVE_EVENTS = frozenset({"deployed", "dr_synced"})
READERS = 16
GITHUB_GATE = "github-environment"  # details.source of approvals read from GitHub's gate
FOREIGN_HINT = "ledger events are written only by vault-actions; check who wrote this object"
NEW_VERSION_HINT = "push a fix: or feat: commit to main; the next build releases a new version"

_ENV_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_ID = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{32}")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """One step of a release's journey, exactly as stored in the ledger."""

    id: str
    version: str
    event: str
    environment: str | None
    at: str
    actor: str
    commit: str | None
    run_url: str | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def time(self) -> datetime:
        """``at`` as an aware datetime."""
        return datetime.fromisoformat(self.at)

    @property
    def when(self) -> str:
        """``at`` for people: ``2026-03-01 10:00:01 UTC``."""
        return self.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    @property
    def who(self) -> str:
        """Who decided (``details.by`` for gate decisions), else who ran it."""
        by = self.details.get("by")
        return str(by) if by else self.actor

    @property
    def reason(self) -> str | None:
        """``details.reason`` when one was given."""
        reason = self.details.get("reason")
        return str(reason) if reason else None

    @property
    def fatal(self) -> bool:
        """True when this event kills the version."""
        return self.event in FATAL

    def describe(self) -> str:
        """``smoke_failed in qa at <when> by <who>`` (with the reason when there is one)."""
        where = f" in {self.environment}" if self.environment else ""
        text = f"{self.event}{where} at {self.when} by {self.who}"
        return f"{text} ({self.reason})" if self.reason else text

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Event:
        """Parse a stored event; VaultError naming ``where`` when it is not one."""
        try:
            return _parse_event(raw)
        except (TypeError, ValueError, KeyError, VersionError) as exc:
            raise VaultError(
                f"{where} is not a valid ledger event ({exc})",
                FOREIGN_HINT,
            ) from None


def _optional_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} must be a string or null, not {value!r}")
    return value


def _required_str(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} must be a non-empty string, not {value!r}")
    return value


def _parse_event(raw: Any) -> Event:
    if not isinstance(raw, dict):
        raise TypeError("not a JSON object")
    details = raw.get("details", {})
    if not isinstance(details, dict):
        raise TypeError(f"details must be an object, not {details!r}")
    event = Event(
        id=_required_str(raw, "id"),
        version=_required_str(raw, "version"),
        event=_required_str(raw, "event"),
        environment=_optional_str(raw, "environment"),
        at=_required_str(raw, "at"),
        actor=_required_str(raw, "actor"),
        commit=_optional_str(raw, "commit"),
        run_url=_optional_str(raw, "run_url"),
        details=details,
    )
    if validate_version(event.version) != event.version:
        raise ValueError(f"version {event.version!r} must not carry a 'v' prefix")
    if event.time.tzinfo is None:
        raise ValueError(f"at {event.at!r} has no time zone")
    return event


def _order(event: Event) -> tuple[datetime, str]:
    return (event.time, event.id)


@dataclass(frozen=True)
class Journey:
    """One version's events in order, and what follows from them (never stored)."""

    version: str
    events: tuple[Event, ...]
    death: Event | None = field(init=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.events, key=_order))
        object.__setattr__(self, "events", ordered)
        object.__setattr__(self, "death", next((e for e in ordered if e.fatal), None))

    @property
    def alive(self) -> bool:
        """False once any FATAL event was recorded: versions never come back."""
        return self.death is None

    def last(self, event: str, environment: str | None = None) -> Event | None:
        """The latest ``event`` in ``environment`` (None: in any environment)."""
        for candidate in reversed(self.events):
            if candidate.event == event and environment in (None, candidate.environment):
                return candidate
        return None

    def in_environment(self, environment: str) -> tuple[Event, ...]:
        """The events recorded for ``environment``, in order."""
        return tuple(e for e in self.events if e.environment == environment)

    def standing(self, environment: str) -> Event | None:
        """The latest deploy to ``environment`` unless it was rolled back afterwards."""
        deployed = self.last("deployed", environment)
        rolled = self.last("rolled_back", environment)
        if deployed is None or (rolled is not None and _order(rolled) > _order(deployed)):
            return None
        return deployed

    def passed(self, environment: str) -> bool:
        """True when a smoke test passed after the latest deploy, which still stands."""
        deployed = self.standing(environment)
        smoke = self.last("smoke_passed", environment)
        return deployed is not None and smoke is not None and _order(smoke) > _order(deployed)


class Ledger:
    """The ledger in one vault bucket. The S3 client is passed in (see ``aws.client``)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str = "ledger/",
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self._store = Vault(s3, bucket)
        self.prefix = prefix if prefix.endswith("/") else f"{prefix}/"
        self._clock = clock

    def uri(self, key: str = "") -> str:
        """``s3://bucket/ledger/…``."""
        return f"s3://{self.bucket}/{key or self.prefix}"

    def key(self, version: str, event_id: str) -> str:
        """Where an event is stored: ``ledger/v1.2.3/<id>.json``."""
        return f"{self.prefix}{version_prefix(version)}{event_id}.json"

    def record(
        self,
        version: str,
        event: str,
        environment: str | None,
        ctx: RunContext,
        *,
        commit: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Event:
        """Append one event (put-once, never overwritten) and return it."""
        if event not in EVENTS:
            raise ValueError(f"unknown ledger event {event!r}; events are {', '.join(EVENTS)}")
        if environment is not None and not _ENV_NAME.fullmatch(environment):
            raise ValueError(f"invalid environment name {environment!r}")
        moment = self._clock().astimezone(UTC)
        recorded = Event(
            id=f"{moment:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}",
            version=validate_version(version),
            event=event,
            environment=environment,
            at=moment.isoformat(timespec="microseconds"),
            actor=ctx.actor,
            commit=commit or ctx.sha,
            run_url=ctx.run_url,
            details=dict(details or {}),
        )
        body = json.dumps(recorded.to_json(), sort_keys=True).encode()
        self._put(self.key(recorded.version, recorded.id), body)
        log.info("ledger: v%s %s", recorded.version, recorded.describe())
        return recorded

    def _put(self, key: str, body: bytes) -> None:
        """Put-once; a 412 on these same bytes is our own earlier attempt, so success."""
        taken = VaultError(
            f"{self.uri(key)} already holds another event",
            FOREIGN_HINT,
        )
        self._store.put_once(key, body, b64_sha256(body), taken)

    def events(self, version: str | None = None) -> list[Event]:
        """Every event (of one version, or of all), ordered by (at, id)."""
        prefix = self.prefix + (version_prefix(validate_version(version)) if version else "")
        keys = self._keys(prefix)
        if not keys:
            return []
        with ThreadPoolExecutor(max_workers=min(READERS, len(keys))) as pool:
            found = list(pool.map(self._read, keys))
        return sorted(found, key=_order)

    def _keys(self, prefix: str) -> list[str]:
        from botocore.exceptions import ClientError

        keys: list[str] = []
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                keys += [o["Key"] for o in page.get("Contents", ()) if o["Key"].endswith(".json")]
        except ClientError as exc:
            raise self._store.explain(exc, "listing", prefix) from None
        return keys

    def _read(self, key: str) -> Event:
        from botocore.exceptions import ClientError

        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            raw = json.loads(response["Body"].read())
        except ClientError as exc:
            raise self._store.explain(exc, "reading", key) from None
        except ValueError as exc:
            raise VaultError(
                f"{self.uri(key)} is not JSON ({exc})",
                FOREIGN_HINT,
            ) from None
        event = Event.from_json(raw, self.uri(key))
        if key != self.key(event.version, event.id) or not _ID.fullmatch(event.id):
            raise VaultError(
                f"{self.uri(key)} holds event {event.id!r} of v{event.version}, "
                "which belongs elsewhere",
                FOREIGN_HINT,
            )
        return event

    def journey(self, version: str) -> Journey:
        """The journey of one version (empty when the ledger holds nothing for it)."""
        version = validate_version(version)
        return Journey(version, tuple(self.events(version)))


@dataclass(frozen=True)
class Overview:
    """What every event says together: each journey, what is live where, DR lag."""

    journeys: dict[str, Journey]
    live: dict[str, str]
    lags: list[Lag]


def overview(cfg: Config, events: Iterable[Event]) -> Overview:
    """Derive the overview of ``events`` (all of the ledger, normally)."""
    events = list(events)
    found = journeys(events)
    live = live_versions(events)
    return Overview(found, live, dr_lags(cfg, found, live))


def _semver_key(version: str) -> semver.Version:
    return semver.Version.parse(version)


def journeys(events: Iterable[Event]) -> dict[str, Journey]:
    """Each version's journey, in semver order (oldest first)."""
    grouped: dict[str, list[Event]] = {}
    for event in events:
        grouped.setdefault(event.version, []).append(event)
    return {v: Journey(v, tuple(grouped[v])) for v in sorted(grouped, key=_semver_key)}


def live_versions(events: Iterable[Event]) -> dict[str, str]:
    """Per environment, the version most recently deployed there and not rolled back since."""
    ordered = sorted(events, key=_order)
    live: dict[str, str] = {}
    rolled_back: dict[str, set[str]] = {}
    for event in reversed(ordered):
        env = event.environment
        if env is None or env in live:
            continue
        if event.event == "rolled_back":
            rolled_back.setdefault(env, set()).add(event.version)
        elif event.event in LIVE_EVENTS and event.version not in rolled_back.get(env, ()):
            live[env] = event.version
    first_seen = dict.fromkeys(e.environment for e in ordered if e.environment in live)
    return {env: live[env] for env in first_seen if env is not None}


@dataclass(frozen=True)
class Lag:
    """A DR mirror that does not (provably) run what its source environment runs."""

    mirror: str
    source: str
    source_version: str
    mirror_version: str | None
    synced: bool

    def describe(self) -> str:
        """``dr lags prod: prod runs v1.0.3, dr runs v1.0.2``."""
        head = f"{self.mirror} lags {self.source}: {self.source} runs v{self.source_version}"
        if self.mirror_version is None:
            return f"{head}, {self.mirror} runs nothing recorded in the ledger"
        if self.mirror_version != self.source_version:
            return f"{head}, {self.mirror} runs v{self.mirror_version}"
        return f"{head}, but it was never dr_synced to {self.mirror}"

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {**asdict(self), "message": self.describe()}


def dr_lags(cfg: Config, journeys: Mapping[str, Journey], live: Mapping[str, str]) -> list[Lag]:
    """The mirrors whose live version is not the synced version live in their source."""
    lags: list[Lag] = []
    for mirror in cfg.mirrors:
        source = str(mirror.mirror_of)
        version = live.get(source)
        if version is None:
            continue
        journey = journeys.get(version)
        synced = journey is not None and journey.last("dr_synced", mirror.name) is not None
        if live.get(mirror.name) != version or not synced:
            lags.append(Lag(mirror.name, source, version, live.get(mirror.name), synced))
    return lags


def may_approve(env: Environment, name: str) -> bool:
    """True when ``name`` is one of the gate's approvers (a teams-only gate has none:
    only GitHub's environment gate, which checks team membership, can approve it)."""
    approvers = env.gate.approvers if env.gate else ()
    return name.casefold() in {a.casefold() for a in approvers}


def _counts(env: Environment, approval: Event) -> bool:
    """An approval counts if its author is an approver, or if GitHub's environment gate
    (whose required reviewers include the gate's teams) approved it: GitHub checked the
    team membership that the ledger cannot see."""
    by_team = bool(env.gate and env.gate.teams) and approval.details.get("source") == GITHUB_GATE
    return by_team or may_approve(env, approval.who)


def check_alive(journey: Journey) -> None:
    """PromotionRefused naming where, when and by whom the version died."""
    death = journey.death
    if death is not None:
        raise PromotionRefused(
            f"v{journey.version} is dead: {death.describe()}; "
            "versions never come back — release a new version",
            NEW_VERSION_HINT,
        )


def check_previous(cfg: Config, journey: Journey, env: Environment) -> None:
    """PromotionRefused unless the version passed the environment before ``env``.

    That is the previous environment in the promotion order, or the one a mirror
    mirrors. An environment without smoke checks or command counts as passed once deployed.
    """
    previous = cfg.previous(env)
    if previous is None:
        return
    version, name = journey.version, previous.name
    standing = journey.standing(name)
    if standing is not None and (not previous.smoke_tested or journey.passed(name)):
        return
    deployed = journey.last("deployed", name)
    if deployed is None:
        problem = f"has never been deployed to {name}"
    elif standing is None:
        rolled = journey.last("rolled_back", name)
        problem = f"was rolled back in {name} ({rolled.describe() if rolled else 'unknown'})"
    else:
        problem = f"was deployed to {name} at {deployed.when} but has not passed its smoke test"
    raise PromotionRefused(
        f"v{version} {problem}; {env.name} only takes versions that passed {name}",
        f"deploy v{version} to {name} and let its smoke test pass first "
        "(there is no way to skip an environment)",
    )


def check_approval(journey: Journey, env: Environment) -> None:
    """PromotionRefused when ``env`` is gated and no approver approved the version."""
    if not env.gated:
        return
    approvals = [e for e in journey.in_environment(env.name) if e.event == "approved"]
    if any(_counts(env, e) for e in approvals):
        return
    version = journey.version
    approvers = ", ".join(env.gate.approvers) if env.gate and env.gate.approvers else ""
    how = f"vault approve --env {env.name} --version {version} --by NAME"
    if approvals:
        names = ", ".join(sorted({e.who for e in approvals}))
        raise PromotionRefused(
            f"v{version} was approved for {env.name} only by {names}, "
            f"who may not approve it (approvers: {approvers})",
            f"ask one of {approvers} to approve: {how}",
        )
    who = f"one of {approvers}" if approvers else "an approver"
    raise PromotionRefused(
        f"v{version} has not been approved for {env.name}, which is gated",
        f"{who} approves the {env.name} deployment in GitHub, or runs: {how}",
    )


def check_promotion(cfg: Config, journey: Journey, env: Environment) -> None:
    """The promotion policy: alive, passed the previous environment, approved if gated.

    The first environment needs no ``built`` event: the deploy requires the manifest,
    which is the proof of a complete build (releases built before the ledger still deploy).
    """
    check_alive(journey)
    check_previous(cfg, journey, env)
    check_approval(journey, env)


def check_can_approve(cfg: Config, journey: Journey, env: Environment, by: str) -> None:
    """PromotionRefused unless ``by`` may approve this version for ``env`` now."""
    if not env.gated:
        gated = ", ".join(e.name for e in cfg.environments if e.gated) or "none"
        raise PromotionRefused(
            f"{env.name} has no gate: there is nothing to approve",
            f"approvals are for gated environments (gated: {gated}); "
            f"add gate: to {env.name} in vault.yml to require one",
        )
    check_alive(journey)
    check_previous(cfg, journey, env)
    if not may_approve(env, by):
        approvers = ", ".join(env.gate.approvers) if env.gate else ""
        if not approvers:
            raise PromotionRefused(
                f"{env.name}'s gate names no approvers, only teams: only GitHub's "
                "environment gate (which checks team membership) can approve it",
                f"approve the {env.name} deployment in GitHub, or list people in "
                f"gate.approvers of {env.name} in vault.yml",
            )
        raise PromotionRefused(
            f"{by!r} may not approve releases for {env.name}; its approvers are {approvers}",
            f"ask one of them, or add {by} to the gate.approvers of {env.name} in vault.yml",
        )


def check_can_reject(journey: Journey) -> None:
    """PromotionRefused when the version is already dead (it can die only once)."""
    death = journey.death
    if death is not None:
        raise PromotionRefused(
            f"v{journey.version} is already dead: {death.describe()}",
            "nothing to reject; a dead version never deploys again",
        )
