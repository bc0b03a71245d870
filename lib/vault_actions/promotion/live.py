"""What is live in each environment, from a constant number of requests.

The live index (``store.index``) names, newest first, each event that put a version live
in an environment. A reader lists an environment's newest pointers (one request), reads
the pointer and the events of the version it names, and believes it only when that
version's events hold the very event the pointer copies and the version was not rolled
back there since; otherwise it walks to the next pointer. When no pointer holds (an
empty, stale or forged index), it reads the whole ledger and says so: the index is never
believed over the events. Journeys read here are kept, so each version is read once.
A reader for a report (status, graveyard) may start from the newest ledger summary and
the events since (``promotion.summary``); a decision's reader never does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import semver

from vault_actions.errors import VersionError
from vault_actions.promotion import authority
from vault_actions.promotion import summary as summaries
from vault_actions.promotion.journey import Journey, Overview, dr_lags, journeys, live_versions
from vault_actions.store.attestation import LocalAttestor
from vault_actions.store.index import Pointer
from vault_actions.store.ledger import LIVE_EVENTS, Event, Ledger, Scan, Skipped, order
from vault_actions.store.manifest import is_version, validate_version

if TYPE_CHECKING:
    from vault_actions.config import Config
    from vault_actions.context import RunContext
    from vault_actions.store.attestation import Verifier

log = logging.getLogger(__name__)

WALK = 8  # pointers tried per environment before falling back to a scan
STOOD = 50  # pointers read for the versions that stood in an environment (rollback)
BATCH = 50  # versions read at a time while looking for the ones to show
REINDEX_HINT = "run `vault ledger reindex` (it adds the missing pointers; `vault doctor` checks)"

@dataclass(frozen=True)
class Live:
    """The version live in one environment, whether the index said so, and the pointers
    that were not believed (each with why)."""

    environment: str
    version: str | None
    indexed: bool
    doubts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shown:
    """The versions a report shows (oldest first), what is live where, and their numbers."""

    overview: Overview
    attempts: dict[str, int]            # each shown version's number (1: the oldest)
    total: int                          # versions in the ledger
    judged: authority.Assessment        # the shown versions' events, judged

    @property
    def first(self) -> int:
        """The attempt number of the oldest version shown."""
        return min(self.attempts.values(), default=1)


class Reader:
    """Reads journeys (from the events that count, ``promotion.authority``) and what is
    live, each version's events once."""

    def __init__(self, cfg: Config, ledger: Ledger, verifier: Verifier | None = None, *,
                 summary: bool = False) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.verifier = verifier or authority.verifier_for(cfg)
        self.assessments: dict[str, authority.Assessment] = {}
        self._added: dict[str, list[Event]] = {}
        self._all: authority.Assessment | None = None
        self._summary = summary  # reports may start from a summary; decisions never do
        self._began = datetime.now(UTC)
        self._state: summaries.State | None = None
        self._since = authority.Assessment([])
        self._read_state = False

    def state(self) -> summaries.State | None:
        """The newest summary that holds and the events since (read once), for a reader
        that may use one; its versions' events count as read (a version already read
        keeps what its folder said: events are never overruled by a summary)."""
        if not self._summary or self._read_state:
            return self._state
        self._read_state = True
        self._state = summaries.current(self.cfg, self.ledger, self.verifier)
        if self._state is not None:
            for version, scan in self._state.held.items():
                self.assessments.setdefault(
                    version, authority.assess(self.cfg, scan, self.verifier))
            self._since = authority.assess(self.cfg, Scan(self._state.since, []), self.verifier)
            self.ledger.know(self._state.versions)
        return self._state

    def own_events(self, version: str) -> authority.Assessment:
        """``version``'s events, each read from its own key (a summary's copy never counts
        over them): the keys the summary's catalogue names and the feed's since, else
        those its folder lists."""
        version = validate_version(version)
        state = self.state()
        keys = state.keys(self.ledger, version, state.block(self.ledger, version)) if (
            state is not None) else None
        if state is None or keys is None:
            scan = self.ledger.scan(version)
        else:
            since = {self.ledger.event_key(e): e for e in state.since if e.version == version}
            scan = self.ledger.scan_keys([k for k in keys if k not in since], [*since.values()])
        self.assessments[version] = authority.assess(self.cfg, scan, self.verifier)
        return self.assessments[version]

    def versions(self) -> tuple[list[str], list[Skipped]]:
        """Every version, newest first, and what lies beside their folders (and in the
        feed) that is not believed: from the summary when there is one, else one listing."""
        state = self.state()
        if state is not None:
            return state.versions, [*state.strays, *state.doubts]
        listing = self.ledger.listing()
        return listing.versions, listing.strays

    def assessment(self, version: str) -> authority.Assessment:
        """Every event of ``version`` judged (read the first time only)."""
        version = validate_version(version)
        if version not in self.assessments:
            self.assessments[version] = authority.assess(
                self.cfg, self.ledger.scan(version), self.verifier)
        return self.assessments[version]

    def journey(self, version: str) -> Journey:
        """The journey of ``version`` from its events that count (and those :meth:`add`ed)."""
        version = validate_version(version)
        counted = self.assessment(version).journey(version).events
        return Journey(version, (*counted, *self._added.get(version, ())))

    def add(self, events: Iterable[Event]) -> None:
        """Events this process just recorded, counted without reading them back."""
        for event in events:
            self._added.setdefault(event.version, []).append(event)

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

    def recent(self, limit: int | None, since: datetime | None = None) -> Shown:
        """The newest ``limit`` versions (None: all) with an event that counts, and with
        one at or after ``since``; only their events (and what is live) are read. Versions
        are walked newest first by semver and the walk stops at the first one older than
        ``since``."""
        versions, strays = self.versions()
        shown: list[str] = []
        batch = min(limit or BATCH, BATCH)
        for start in range(0, len(versions), batch):
            done = False
            for journey in self.prefetch(versions[start:start + batch]):
                if since is not None and self._before(journey.version, since):
                    done = True
                    break
                if journey.events:
                    shown.append(journey.version)
                if limit and len(shown) >= limit:
                    done = True
                    break
            if done:
                break
        shown.reverse()
        position = {v: n for n, v in enumerate(versions)}
        attempts = {v: len(versions) - position[v] for v in shown}
        judged = self.judged(shown)
        judged.skipped[:0] = strays
        return Shown(self.overview(shown), attempts, len(versions), judged)

    def overview(self, versions: Iterable[str]) -> Overview:
        """The journeys of ``versions`` (in that order), what is live in every environment
        and DR lag: their events and the live index, not the whole ledger."""
        shown = {v: self.journey(v) for v in versions}
        live = self.live_now()
        known = {**{v: self.journey(v) for v in set(live.values())}, **shown}
        return Overview(shown, live, dr_lags(self.cfg, known, live))

    def _before(self, version: str, since: datetime) -> bool:
        """True when every event of ``version`` (counting or not) is older than ``since``."""
        judged = self.assessment(version).judged
        return bool(judged) and all(j.event.time < since for j in judged)

    def stood_in(self, environment: str, also: Iterable[str] = ()) -> dict[str, Journey]:
        """The journeys of the versions the newest ``STOOD`` pointers of ``environment``
        name (a pointer only nominates: what stood there is the journeys' to say), and of
        ``also``; every journey, from a scan, when the environment has no pointer."""
        keys = self.ledger.index.newest(environment, STOOD)
        if not keys:
            log.warning("ledger index of %s: it has no pointer; reading the whole ledger "
                        "instead; %s", environment, REINDEX_HINT)
            return journeys(self.everything())
        named = (self.ledger.index.parse(k) for k in keys)
        versions = dict.fromkeys(p.version for p in named
                                 if p is not None and is_version(p.version))
        found = [*versions, *(v for v in also if v not in versions)]
        return {j.version: j for j in self.prefetch(found) if j.events}

    def live_now(self) -> dict[str, str]:
        """Per environment, the version live there: derived from the summary's versions
        (it holds every live one) and the events since, or from the live index for an
        environment with a rollback since (or when there is no summary)."""
        names = [e.name for e in self.cfg.environments]
        if self.state() is None:
            return self.live_map(names)
        events = [e for v in self.assessments for e in self.journey(v).events]
        events += [e for e in self._since.events if e.version not in self.assessments]
        rolled = {e.environment for e in self._since.events if e.event == "rolled_back"}
        derived = live_versions(events)
        found = {env: self.live(env).version if env in rolled else derived.get(env)
                 for env in names}
        return {env: version for env, version in found.items() if version is not None}

    def scan_of(self, version: str) -> Scan:
        """Every event of ``version`` read (judged or not) and recorded here, and what in
        its folder is not an event."""
        assessment = self.assessment(version)
        events = [j.event for j in assessment.judged] + self._added.get(version, [])
        return Scan(sorted(events, key=order), list(assessment.skipped))

    def summarise(self, ctx: RunContext, *, whole: bool = False) -> str | None:
        """Write a summary (``promotion.summary``) as of when this reader began: every
        version, the events of the ``KEEP`` newest and of every one live (read from their
        folders), the catalogue. It extends the newest summary's versions and catalogue
        with the events since (a constant number of requests, whatever the history);
        ``whole`` (or with none to extend) builds it from every folder.
        Its key, or None outside Actions unless ``ledger.allow-local`` lists ``summary``
        (no reader would believe it)."""
        if self._summary:
            raise ValueError("a summary is written by a reader that does not start from one")
        if isinstance(self.ledger.attestor, LocalAttestor) and (
                "summary" not in self.cfg.ledger.allow_local):
            log.info("ledger: no summary written: it would be local, and vault.yml's "
                     "ledger.allow-local does not list summary")
            return None
        reports = Reader(self.cfg, self.ledger, self.verifier, summary=True)
        state = None if whole else reports.state()
        catalogue = None if state is None else summaries.extended(self.ledger, state)
        if state is None or catalogue is None:
            return self._summarise_folders(ctx)
        keep = list(dict.fromkeys([*state.versions[:summaries.KEEP],
                                   *reports.live_now().values()]))
        self.prefetch(keep)  # from their folders: a miss in a kept version heals now
        return summaries.write(self.ledger, ctx, state.versions,
                               {v: self.scan_of(v) for v in keep}, as_of=self._began,
                               strays=state.strays, catalogue=catalogue[0],
                               rebuilt=catalogue[1])

    def _summarise_folders(self, ctx: RunContext) -> str:
        """A summary from every folder (their listing and the live index)."""
        listing = self.ledger.listing()
        live = self.live_map(e.name for e in self.cfg.environments)
        keep = list(dict.fromkeys([*listing.versions[:summaries.KEEP], *live.values()]))
        self.prefetch(keep)
        catalogue = summaries.catalogue(self.ledger, self.ledger.catalogued())  # every key read
        return summaries.write(self.ledger, ctx, listing.versions,
                               {v: self.scan_of(v) for v in keep}, as_of=self._began,
                               strays=listing.strays, catalogue=catalogue)

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

    def newer_live(self, environment: str, version: str) -> str | None:
        """The version live in ``environment`` if it is newer than ``version``, else None
        (the no-downgrade check): one listing of the index, and the events only when a
        recent pointer names a newer version (or there is no index to list)."""
        keys = self.ledger.index.newest(environment, WALK)
        named = [p.version for p in map(self.ledger.index.parse, keys)
                 if p is not None and is_version(p.version)]
        ours = semver.Version.parse(version)
        if keys and all(semver.Version.parse(v) <= ours for v in named):
            return None
        live = self.live(environment).version
        return live if live is not None and semver.Version.parse(live) > ours else None

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
