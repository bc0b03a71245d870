"""What is live in each environment, from a constant number of requests.

The live index (``store.index``) names, newest first, each event that put a version live
in an environment. A reader lists an environment's newest pointers (one request), reads
the pointer and the events of the version it names, and believes it only when that
version's events hold the very event the pointer copies and the version was not rolled
back there since; otherwise it walks to the next pointer. When no pointer holds (an
empty, stale or forged index), it reads the whole ledger and says so: the index is never
believed over the events. Journeys read here are kept, so each version is read once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault_actions.errors import VersionError
from vault_actions.promotion import authority
from vault_actions.promotion.journey import Journey, live_versions
from vault_actions.store.index import Pointer
from vault_actions.store.ledger import LIVE_EVENTS, Event, Ledger, order
from vault_actions.store.manifest import validate_version

if TYPE_CHECKING:
    from vault_actions.config import Config
    from vault_actions.store.attestation import Verifier

log = logging.getLogger(__name__)

WALK = 8  # pointers tried per environment before falling back to a scan
REINDEX_HINT = "run `vault ledger reindex` (it adds the missing pointers; `vault doctor` checks)"

@dataclass(frozen=True)
class Live:
    """The version live in one environment, whether the index said so, and the pointers
    that were not believed (each with why)."""

    environment: str
    version: str | None
    indexed: bool
    doubts: tuple[str, ...] = ()


class Reader:
    """Reads journeys (from the events that count, ``promotion.authority``) and what is
    live, each version's events once."""

    def __init__(self, cfg: Config, ledger: Ledger, verifier: Verifier | None = None) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.verifier = verifier or authority.verifier_for(cfg)
        self.assessments: dict[str, authority.Assessment] = {}
        self._all: authority.Assessment | None = None

    def assessment(self, version: str) -> authority.Assessment:
        """Every event of ``version`` judged (read the first time only)."""
        version = validate_version(version)
        if version not in self.assessments:
            self.assessments[version] = authority.assess(
                self.cfg, self.ledger.scan(version), self.verifier)
        return self.assessments[version]

    def journey(self, version: str) -> Journey:
        """The journey of ``version`` from its events that count."""
        return self.assessment(version).journey(validate_version(version))

    def prefetch(self, versions: Iterable[str]) -> list[Journey]:
        """The journeys of ``versions``, read in parallel."""
        versions = list(versions)
        missing = [v for v in versions if v not in self.assessments]
        for version, scan in self.ledger.scan_versions(missing).items():
            self.assessments[version] = authority.assess(self.cfg, scan, self.verifier)
        return [self.journey(v) for v in versions]

    def judged(self, versions: Iterable[str]) -> authority.Assessment:
        """The judged events of ``versions`` together (what status lists as not counting)."""
        found = [self.assessment(v) for v in versions]
        return authority.Assessment([j for a in found for j in a.judged],
                                    [s for a in found for s in a.skipped])

    def live_map(self, environments: Iterable[str]) -> dict[str, str]:
        """Per environment (of ``environments``, in order), the version live there."""
        found = {env: self.live(env).version for env in environments}
        return {env: version for env, version in found.items() if version is not None}

    def live(self, environment: str) -> Live:
        """The version live in ``environment``: the newest pointer that holds, else a scan."""
        doubts: list[str] = []
        keys = self.ledger.index.newest(environment, WALK)
        for key in keys:
            pointer = self.ledger.index.parse(key)
            event, doubt = self._check(pointer, key, environment)
            if doubt is not None:
                doubts.append(f"{self.ledger.uri(key)} {doubt}")
                log.warning("ledger index: %s is not believed: %s", self.ledger.uri(key), doubt)
                continue
            assert event is not None and pointer is not None
            if not self._rolled_back_since(event):
                return Live(environment, event.version, True, tuple(doubts))
        why = (f"none of the {len(keys)} newest pointers holds" if keys
               else "it has no pointer")
        log.warning("ledger index of %s: %s; reading the whole ledger instead; %s",
                    environment, why, REINDEX_HINT)
        return Live(environment, live_versions(self.everything()).get(environment), False,
                    tuple(doubts))

    def everything(self) -> list[Event]:
        """Every event that counts (the old full scan, read once)."""
        if self._all is None:
            self._all = authority.read(self.cfg, self.ledger, verifier=self.verifier)
        return self._all.events

    def _check(self, pointer: Pointer | None, key: str,
               environment: str) -> tuple[Event | None, str | None]:
        """The event a pointer names, or why the pointer is not believed."""
        if pointer is None or pointer.environment != environment:
            return None, "is not a live pointer's name"
        try:
            journey = self.journey(pointer.version)
        except VersionError:
            return None, f"names version {pointer.version!r}, which is not a version"
        event = next((e for e in journey.events if e.id == pointer.event_id), None)
        if event is None:
            return None, (f"names event {pointer.event_id} of v{pointer.version}, which its "
                          "events do not hold (missing, or it does not count)")
        if event.event not in LIVE_EVENTS or not pointer.names(event.environment, event.time,
                                                                event.id):
            return None, f"names {event.describe()}, which did not put v{event.version} live there"
        if self.ledger.index.body(key) != json.loads(self.ledger.body(event)):
            return None, f"differs from the event it names ({event.describe()})"
        return event, None

    def _rolled_back_since(self, event: Event) -> bool:
        journey = self.journey(event.version)
        return any(e.event == "rolled_back" and order(e) > order(event)
                   for e in journey.in_environment(str(event.environment)))
