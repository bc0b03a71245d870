"""Journeys: what a version's events say together (never stored beside them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import semver

from vault_actions.store.ledger import LIVE_EVENTS, Event, Ledger, order
from vault_actions.store.manifest import validate_version

if TYPE_CHECKING:
    from vault_actions.config import Config


@dataclass(frozen=True)
class Journey:
    """One version's events in order, and what follows from them (never stored)."""

    version: str
    events: tuple[Event, ...]
    death: Event | None = field(init=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.events, key=order))
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
        if deployed is None or (rolled is not None and order(rolled) > order(deployed)):
            return None
        return deployed

    def passed(self, environment: str) -> bool:
        """True when a smoke test passed after the latest deploy, which still stands (an
        emergency rollback puts back bytes that passed there before: their pass holds)."""
        deployed = self.standing(environment)
        smoke = self.last("smoke_passed", environment)
        if deployed is None or smoke is None:
            return False
        return order(smoke) > order(deployed) or bool(deployed.details.get("emergency"))


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
    ordered = sorted(events, key=order)
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


def journey_of(ledger: Ledger, version: str) -> Journey:
    """The journey of one version (empty when the ledger holds nothing for it)."""
    version = validate_version(version)
    return Journey(version, tuple(ledger.events(version)))


def journey_in(events: Iterable[Event], version: str) -> Journey:
    """The journey of ``version`` among ``events`` (empty when they hold nothing for it)."""
    return Journey(version, tuple(e for e in events if e.version == version))
