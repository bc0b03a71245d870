"""The ledger's derived objects against its events: `vault ledger check` and `reindex`.

The live pointers (``store.index``), the feed entries (``store.feed``) and the newest
summary (``promotion.summary``) are each derived from the events and never believed over
them; this compares them with the whole ledger, judged, and adds what is missing
(put-once: rerunning adds nothing). Doctor and ``vault verify`` report the same check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vault_actions.promotion import authority
from vault_actions.promotion import summary as summaries
from vault_actions.promotion.live import Reader
from vault_actions.store.ledger import Event, Ledger

if TYPE_CHECKING:
    from vault_actions.config import Config
    from vault_actions.context import RunContext
    from vault_actions.store.attestation import Verifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexCheck:
    """The derived objects against the events: live pointers missing for events that put a
    version live, pointers that name no such event (forged, or of an event that does not
    count), events without their feed entry, and what the newest summary left out or
    holds beyond the events."""

    missing: list[tuple[str, Event]]
    unfounded: list[str]
    unfed: list[tuple[str, Event]]
    summary: summaries.Comparison | None

    @property
    def ok(self) -> bool:
        """True when nothing derived is missing and no summary disagrees with the events."""
        return not self.missing and not self.unfounded and not self.unfed and (
            self.summary is None or self.summary.ok)

    def describe(self) -> str:
        """``the live index holds a pointer for each …`` or what is wrong."""
        if self.ok:
            return ("the live index holds a pointer for every event that put a version live"
                    + (f", the feed names every event since the newest summary, and "
                       f"{self.summary.describe()}" if self.summary else ""))
        problems = []
        if self.missing:
            problems.append(f"{len(self.missing)} live event(s) have no pointer (e.g. v"
                            f"{self.missing[0][1].version} {self.missing[0][1].describe()})")
        if self.unfounded:
            problems.append(f"{len(self.unfounded)} pointer(s) name no event that counts "
                            f"(e.g. {self.unfounded[0]}); readers walk past them")
        if self.unfed:
            problems.append(f"{len(self.unfed)} event(s) since the newest summary have no feed "
                            f"entry (e.g. v{self.unfed[0][1].version} "
                            f"{self.unfed[0][1].describe()}): its readers do not see them")
        if self.summary is not None and not self.summary.ok:
            problems.append(self.summary.describe())
        return "; ".join(problems)

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"ok": self.ok, "missing": [k for k, _ in self.missing],
                "unfounded": self.unfounded, "unfed": [k for k, _ in self.unfed],
                "summary": self.summary.to_json() if self.summary else None}


def check_index(cfg: Config, ledger: Ledger, assessment: authority.Assessment,
                verifier: Verifier | None = None) -> IndexCheck:
    """Compare every pointer, feed entry and the newest summary with the events of
    ``assessment`` (the whole ledger, judged)."""
    expected = {}
    for event in assessment.events:
        key = ledger.pointer_key(event)
        if key is not None:
            expected[key] = event
    present = set(ledger.index.keys())
    missing = [(k, e) for k, e in expected.items() if k not in present]
    compared = summaries.compare(cfg, ledger, assessment,
                                 verifier or authority.verifier_for(cfg))
    unfed = []
    if compared is not None:  # a summary's readers read the events since it from the feed
        fed = set(ledger.feed.keys())
        unfed = [(k, e) for e in assessment.events
                 if e.time >= compared.since and (k := ledger.entry_key(e)) not in fed]
    return IndexCheck(missing, sorted(present - set(expected)), unfed, compared)


def reindex(cfg: Config, ledger: Ledger, assessment: authority.Assessment,
            ctx: RunContext) -> tuple[IndexCheck, str | None]:
    """Add the pointers and feed entries the index lacks (put-once: rerunning adds
    nothing) and write a summary from every folder (when one may be written: see
    ``Reader.summarise``); returns what was found before, and the summary's key."""
    found = check_index(cfg, ledger, assessment)
    for key, event in found.missing:
        ledger.index.put(key, ledger.body(event))
        log.info("ledger index: added %s", ledger.uri(key))
    for key, _ in found.unfed:
        ledger.feed.put(key, b"")
        log.info("ledger feed: added %s", ledger.uri(key))
    return found, Reader(cfg, ledger).summarise(ctx, whole=True)
