"""Evidence for auditors: every change that reached an environment, and every version stopped.

One :class:`Change` per version deployed to the environment in the period: its commits and
their authors, its approvals with the identity their proof gives, the separation-of-duties
verdict, what happened to it in each environment, and the run links. One :class:`Stop` per
version that was stopped (a failed smoke test, a rejection, a cancelled run, a rollback that
stuck): where, when, by whom and why. Pure functions over ledger data; the proof of each
event comes from a :data:`Verifier` and the commits from a :data:`CommitLookup`, both
passed in.

One piece (over 400 lines): changes, stops and their renderings (csv, json, md) are
derived from the same judged events; split, each part would re-derive them.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vault_actions.promotion.authority import Judged, judge, verifier_for
from vault_actions.promotion.journey import Journey, live_versions
from vault_actions.promotion.policy import approval_counts
from vault_actions.report.period import Period
from vault_actions.store import attestation
from vault_actions.store.attestation import identity_name
from vault_actions.store.ledger import LIVE_EVENTS, Event, order
from vault_actions.text import markdown_cell, plain

if TYPE_CHECKING:
    from vault_actions.config import Config

log = logging.getLogger(__name__)

FAILING_CHECKS = 3  # failed smoke checks named in a stop's reason
# Events that give a version traffic in an environment: a change reaches it with the
# first of them (a canary's first shift, even one that an alarm then rolls back).
ARRIVALS = LIVE_EVENTS | {"traffic_shifted"}


@dataclass(frozen=True)
class Proof:
    """What verifying one event established: whether it is proven, and who wrote it."""

    verified: bool
    identity: str | None
    note: str
    local: bool = False

    @property
    def label(self) -> str:
        """``verified``, ``local`` (an STS identity: a claim, not a proof) or ``unverifiable``."""
        return "verified" if self.verified else "local" if self.local else "unverifiable"

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {"verified": self.verified, "label": self.label, "identity": self.identity,
                "note": self.note}


Verifier = Callable[[Event], Proof]


def proof_of(judged: Judged) -> Proof:
    """The evidence's view of the promotion policy's judgement of one event.

    Verified: its proof holds and its writer had the authority to state it. The identity
    is the approver an approval names (GitHub's review read by the environment's job, or
    the gate workflow's actor: the authority rules check both), else the job's actor.
    """
    writer, event = judged.writer, judged.event
    if writer is None:
        return Proof(False, None, judged.problem or "no proof")
    if writer.local:
        verdict = "counted as break-glass" if judged.counts else judged.problem
        return Proof(False, identity_name(writer.identity or ""),
                     f"written outside GitHub Actions as {writer.identity}: {verdict}", local=True)
    if not judged.counts:
        return Proof(False, None, judged.problem or "it does not count")
    identity = event.who if event.event == "approved" else writer.claim("actor")
    return Proof(True, identity, writer.describe())


def authority_verifier(cfg: Config, verifier: attestation.Verifier | None = None) -> Verifier:
    """Each event judged as the promotion policy judges it (``promotion.authority``)."""
    checker = verifier or verifier_for(cfg)

    def verify(event: Event) -> Proof:
        return proof_of(judge(cfg, event, checker))

    return verify


@dataclass(frozen=True)
class Commit:
    """One commit of a change: sha, author (name and e-mail) and when it was committed."""

    sha: str
    author: str
    email: str = ""
    at: str | None = None

    def names(self) -> set[str]:
        """The names this author may approve under: name, e-mail and its local part."""
        found = {self.author, self.email, self.email.partition("@")[0]}
        return {n.casefold() for n in found if n}

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {"sha": self.sha, "author": self.author, "email": self.email, "at": self.at}


@dataclass(frozen=True)
class Commits:
    """A change's commits (from git: sha, author, time) and who made it: the case-folded
    logins, names and e-mails of its authors and committers, and where they were read."""

    commits: tuple[Commit, ...]
    people: frozenset[str]
    source: str


# (version, the version the environment ran before it or None) -> its commits, None: unknown
CommitLookup = Callable[[str, str | None], Commits | None]


def no_commits(version: str, previous: str | None) -> Commits | None:
    """A lookup that knows no commits."""
    return None


def git_commits(repo: Path) -> CommitLookup:
    """Commits between the release tags ``v<previous>`` and ``v<version>`` in ``repo``."""
    from vault_actions.errors import GitError
    from vault_actions.integrations import git

    failed: list[str] = []  # after one failure (no checkout, a shallow clone) stop asking

    def lookup(version: str, previous: str | None) -> Commits | None:
        revision = f"refs/tags/v{version}"
        if previous:
            revision = f"refs/tags/v{previous}..{revision}"
        if failed:
            return None
        try:
            found = git.authored(repo, revision)
        except GitError as exc:
            failed.append(version)
            log.warning("commit authors are unknown: %s", exc.message)
            return None
        commits = tuple(Commit(a.sha, a.author, a.email, a.committed_at) for a in found)
        return Commits(commits, frozenset(n for c in commits for n in c.names()), "git")

    return lookup


def built_people(journeys: Mapping[str, Journey]) -> CommitLookup:
    """Who made each version after ``previous`` up to ``version``, as their ``built``
    events say (``details.people``: logins and e-mails); None when one does not say."""

    def lookup(version: str, previous: str | None) -> Commits | None:
        names = list(journeys)
        start = names.index(previous) + 1 if previous is not None and previous in journeys else 0
        people: set[str] = set()
        for name in names[start:names.index(version) + 1]:
            built = journeys[name].last("built")
            found = built.details.get("people") if built else None
            if not isinstance(found, list):
                return None
            people |= {str(p).casefold() for p in found}
        return Commits((), frozenset(people), "ledger")

    return lookup


def every_known(*lookups: CommitLookup) -> CommitLookup:
    """What every lookup that knows says, together: git's commits, everyone's people."""

    def lookup(version: str, previous: str | None) -> Commits | None:
        found = [c for c in (candidate(version, previous) for candidate in lookups) if c]
        if not found:
            return None
        return Commits(tuple(m for c in found for m in c.commits),
                       frozenset().union(*(c.people for c in found)),
                       "+".join(c.source for c in found))

    return lookup


@dataclass(frozen=True)
class Approval:
    """One recorded approval, its proof, and whether the gate's rules count it."""

    event: Event
    proof: Proof
    counts: bool

    @property
    def identity(self) -> str:
        """Who approved: the proven identity when there is one, else the recorded name."""
        return self.proof.identity or self.event.who

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "environment": self.event.environment,
            "by": self.event.who,
            "identity": self.identity,
            "source": self.event.details.get("source") or "vault approve",
            "at": self.event.at,
            "counts": self.counts,
            "proof": self.proof.to_json(),
            "run_url": self.event.run_url,
        }


@dataclass(frozen=True)
class Stage:
    """What happened to a version in one environment: deploy, smoke test, rollout, rollback."""

    environment: str
    deployed: Event | None
    smoke: Event | None
    rolled_back: Event | None
    proofs: Mapping[str, Proof] = field(default_factory=dict)  # event id -> proof

    @property
    def smoke_result(self) -> str:
        """``passed``, ``failed`` or ``none``."""
        if self.smoke is None:
            return "none"
        return "passed" if self.smoke.event == "smoke_passed" else "failed"

    @property
    def rollout(self) -> Any:
        """The rollout recorded by the deploy, or by the smoke failure that stopped it
        (``details.rollout``), or the traffic share a canary reached; None: all at once."""
        for event in (self.deployed, self.smoke):
            if event is not None and event.details.get("rollout"):
                return event.details["rollout"]
        if self.deployed is not None and self.deployed.event == "traffic_shifted":
            return {k: v for k, v in self.deployed.details.items() if k in ("strategy", "weight")}
        return None

    @property
    def rollout_text(self) -> str:
        """``strategy canary, percent 10, bake_minutes 5`` ('' without a rollout)."""
        rollout = self.rollout
        if not isinstance(rollout, dict):
            return str(rollout) if rollout else ""
        steps = rollout.get("steps")
        weights = [f"{s['weight']}%" for s in steps if isinstance(s, dict) and "weight" in s] \
            if isinstance(steps, list) else []
        parts = [str(rollout.get("strategy") or "rollout")]
        parts += [" → ".join(weights)] if weights else []
        parts += [f"{rollout['weight']}%"] if "weight" in rollout else []
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        def at(event: Event | None) -> str | None:
            return event.at if event else None

        events = [e for e in (self.deployed, self.smoke, self.rolled_back) if e is not None]
        return {
            "environment": self.environment,
            "deployed_at": at(self.deployed),
            "smoke": self.smoke_result,
            "smoke_at": at(self.smoke),
            "rollout": self.rollout,
            "rolled_back_at": at(self.rolled_back),
            "run_url": self.deployed.run_url if self.deployed else None,
            "unverifiable": [e.event for e in events if not self.proofs[e.id].verified],
        }


@dataclass(frozen=True)
class Duties:
    """The separation-of-duties verdict: ``independent``, ``violated``, ``unknown`` or
    ``no approval``, and why."""

    verdict: str
    detail: str


@dataclass(frozen=True)
class Change:
    """One version that reached the environment in the period, with its evidence."""

    version: str
    environment: str
    deployed: Event
    previous: str | None
    commits: Commits | None
    approvals: tuple[Approval, ...]
    duties: Duties
    stages: tuple[Stage, ...]
    outcome: str
    problems: tuple[str, ...]
    overrides: tuple[Event, ...] = ()  # freeze windows broken to deploy it (break-glass)

    @property
    def emergency(self) -> list[str]:
        """``deployed during freeze window W by X: reason`` for each override."""
        return [f"deployed during freeze window {e.details.get('window')} by {e.who}: "
                f"{e.reason or 'no reason given'}" for e in self.overrides]

    @property
    def compliant(self) -> bool:
        """True when an independent, verified approval that the gate counts exists."""
        return not self.problems

    @property
    def rolled_back(self) -> Event | None:
        """The rollback in the environment after this deploy, if any."""
        return next((s.rolled_back for s in self.stages if s.environment == self.environment),
                    None)

    @property
    def runs(self) -> list[str]:
        """Every run that wrote an event of this change, in order, once."""
        events: list[Event] = [a.event for a in self.approvals]
        for stage in self.stages:
            events += [e for e in (stage.deployed, stage.smoke, stage.rolled_back) if e]
        urls = [e.run_url for e in sorted(events, key=order) if e.run_url]
        return list(dict.fromkeys(urls))

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "version": self.version,
            "environment": self.environment,
            "deployed_at": self.deployed.at,
            "deployed_by": self.deployed.who,
            "previous": self.previous,
            "outcome": self.outcome,
            "rolled_back_at": self.rolled_back.at if self.rolled_back else None,
            "commits": [c.to_json() for c in self.commits.commits] if self.commits else None,
            "made_by": sorted(self.commits.people) if self.commits else None,
            "commits_source": self.commits.source if self.commits else None,
            "approvals": [a.to_json() for a in self.approvals],
            "separation_of_duties": {"verdict": self.duties.verdict, "detail": self.duties.detail},
            "stages": [s.to_json() for s in self.stages],
            "runs": self.runs,
            "compliant": self.compliant,
            "problems": list(self.problems),
            "emergency": self.emergency,
        }


@dataclass(frozen=True)
class Stop:
    """A version stopped: the event that stopped it, and its proof."""

    version: str
    event: Event
    why: str
    proof: Proof

    @property
    def environment(self) -> str:
        """Where (``run`` for a cancelled run with no environment)."""
        return self.event.environment or "run"

    @property
    def kind(self) -> str:
        """``failed``, ``rejected``, ``cancelled`` or ``rolled back``."""
        return {"smoke_failed": "failed", "rolled_back": "rolled back"}.get(
            self.event.event, self.event.event
        )

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "version": self.version,
            "environment": self.environment,
            "kind": self.kind,
            "event": self.event.event,
            "at": self.event.at,
            "by": self.event.who,
            "why": self.why,
            "run_url": self.event.run_url,
            "proof": self.proof.to_json(),
        }


@dataclass(frozen=True)
class Evidence:
    """Everything an auditor samples for one environment and period."""

    environment: str
    period: Period
    changes: tuple[Change, ...]
    stops: tuple[Stop, ...]
    proofs: Mapping[str, Proof] = field(default_factory=dict)  # every event's, by id

    @property
    def compliant(self) -> bool:
        """True when every change has an independent, verified approval."""
        return all(c.compliant for c in self.changes)

    @property
    def lacking(self) -> list[Change]:
        """The changes without an independent, verified approval."""
        return [c for c in self.changes if not c.compliant]

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "environment": self.environment,
            "period": self.period.to_json(),
            "compliant": self.compliant,
            "changes": [c.to_json() for c in self.changes],
            "stopped": [s.to_json() for s in self.stops],
        }


@dataclass(frozen=True)
class _Book:
    """What every change's evidence is read from: the config, the events and their proofs."""

    cfg: Config
    events: tuple[Event, ...]
    proofs: Mapping[str, Proof]
    names: tuple[str, ...]

    def change(self, journey: Journey, deployed: Event, commits: CommitLookup) -> Change:
        """The evidence of ``journey``'s change, first deployed to its environment by
        ``deployed``."""
        env = deployed.environment or ""
        gates = {e.name: e for e in self.cfg.environments}

        def counts(event: Event) -> bool:
            gate = gates.get(event.environment or "")
            return gate is not None and approval_counts(gate, event)

        approvals = tuple(Approval(e, self.proofs[e.id], counts(e))
                          for e in journey.events if e.event == "approved")
        stages = tuple(_stage(journey, name, self.proofs)
                       for name in self.names if journey.in_environment(name))
        previous = live_versions(e for e in self.events if order(e) < order(deployed)).get(env)
        found = commits(journey.version, previous)
        here = [a for a in approvals if a.event.environment == env]
        gated = env in gates and gates[env].gated
        overrides = tuple(e for e in journey.in_environment(env)
                          if e.event == "freeze_overridden")
        return Change(journey.version, env, deployed, previous, found, approvals,
                      _duties(here, found), stages, _outcome(journey, env, self.events),
                      _problems(env, gated, here, found), overrides)


def gather(
    cfg: Config,
    journeys: Mapping[str, Journey],
    environment: str,
    period: Period,
    *,
    verify: Verifier,
    commits: CommitLookup = no_commits,
) -> Evidence:
    """The evidence for ``environment`` in ``period`` from every journey of the ledger."""
    from vault_actions.report.status import track

    events = tuple(sorted((e for j in journeys.values() for e in j.events), key=order))
    proofs = {e.id: verify(e) for e in events}
    book = _Book(cfg, events, proofs, tuple(track(cfg, journeys.values())))
    changes = []
    for journey in journeys.values():
        first = next((e for e in journey.in_environment(environment) if e.event in ARRIVALS),
                     None)
        if first is not None and first.time in period:
            changes.append(book.change(journey, first, commits))
    changes.sort(key=lambda c: order(c.deployed))
    stops = [s for j in journeys.values() for s in _stops(j, proofs) if s.event.time in period]
    stops.sort(key=lambda s: order(s.event))
    return Evidence(environment, period, tuple(changes), tuple(stops), proofs)


def _stage(journey: Journey, environment: str, proofs: Mapping[str, Proof]) -> Stage:
    events = journey.in_environment(environment)
    deployed = next((e for e in reversed(events) if e.event in ARRIVALS), None)
    smoke = next((e for e in reversed(events) if e.event in ("smoke_passed", "smoke_failed")),
                 None)
    rolled = journey.last("rolled_back", environment)
    if rolled is not None and deployed is not None and order(rolled) < order(deployed):
        rolled = None  # a failed earlier attempt, restored before this deploy
    return Stage(environment, deployed, smoke, rolled, proofs)


def _outcome(journey: Journey, env: str, events: Sequence[Event]) -> str:
    """``live``, ``rolled back``, ``died in prod, rolled back``, ``died in qa``, or
    ``replaced by v1.2.4``."""
    death = journey.death
    rolled = journey.standing(env) is None and journey.last("rolled_back", env) is not None
    if death is not None:
        died = f"died in {death.environment}" if death.environment else "cancelled"
        return f"{died}, rolled back" if rolled and death.environment == env else died
    if rolled:
        return "rolled back"
    now = live_versions(events).get(env)
    if now == journey.version:
        return "live"
    return f"replaced by v{now}" if now else "no longer live"


def _duties(approvals: Sequence[Approval], commits: Commits | None) -> Duties:
    counted = [a for a in approvals if a.counts]
    if not counted:
        return Duties("no approval", "no approval by one of the gate's approvers")
    if commits is None:
        return Duties("unknown", "the change's commit authors are not known")
    authors = commits.people
    independent = [a for a in counted if a.identity.casefold() not in authors]
    if independent:
        who = ", ".join(sorted({a.identity for a in independent}))
        return Duties("independent", f"approved by {who}, who made none of its commits "
                      f"(per {commits.source})")
    who = ", ".join(sorted({a.identity for a in counted}))
    return Duties("violated", f"approved only by {who}, who made commits of the change")


def _problems(
    env: str, gated: bool, approvals: Sequence[Approval], commits: Commits | None
) -> tuple[str, ...]:
    """Why the change lacks an independent, verified approval (empty: it has one)."""
    if not gated:
        return (f"{env} has no gate: nothing approved this change",)
    if not approvals:
        return (f"no approval for {env} was recorded",)
    authors = commits.people if commits is not None else None
    good = [a for a in approvals if a.counts and a.proof.verified
            and authors is not None and a.identity.casefold() not in authors]
    if good:
        return ()
    problems = []
    for a in approvals:
        if not a.counts:
            problems.append(f"{a.identity} is not one of {env}'s approvers")
        elif not a.proof.verified:
            problems.append(f"the approval by {a.event.who} is unverifiable ({a.proof.note})")
        elif authors is not None and a.identity.casefold() in authors:
            problems.append(f"{a.identity} approved a change they authored")
    if authors is None:
        problems.append("the commit authors are not known, so independence cannot be shown")
    return tuple(dict.fromkeys(problems))


def _stops(journey: Journey, proofs: Mapping[str, Proof]) -> Iterable[Stop]:
    """The death, and each rollback that stuck (the version no longer stands there)."""
    if journey.death is not None:
        yield Stop(journey.version, journey.death, why(journey.death),
                   proofs[journey.death.id])
    died_in = journey.death.environment if journey.death else None
    for event in journey.events:
        env = event.environment
        if event.event == "rolled_back" and env and env != died_in \
                and journey.standing(env) is None and event is journey.last("rolled_back", env):
            yield Stop(journey.version, event, why(event), proofs[event.id])


def why(event: Event) -> str:
    """The reason given, or what the event's details say went wrong."""
    if event.reason:
        return event.reason
    details = event.details
    failed = [r for r in details.get("results", ()) if isinstance(r, dict) and not r.get("ok")]
    if failed:
        return "; ".join(f"{r.get('name') or r.get('url')}: {r.get('reason')}"
                         for r in failed[:FAILING_CHECKS])
    for key in ("alarm", "error"):
        if details.get(key):
            return f"{key}: {details[key]}"
    return {"smoke_failed": "smoke test failed", "rolled_back": "rolled back",
            "withdrawn": "withdrawn by a rollback",
            "cancelled": "run cancelled", "rejected": "rejected"}.get(event.event, event.event)


CSV_COLUMNS = (
    "kind", "version", "environment", "at", "outcome", "commits", "commits_source",
    "approvals", "separation_of_duties", "environments", "rolled_back_at", "runs",
    "compliant", "problems_or_why",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet never runs as a formula."""
    text = plain(str(value))
    return f"'{text}" if text.startswith(_FORMULA) else text


def _approval_text(a: Approval) -> str:
    source = a.event.details.get("source") or "vault approve"
    rule = "" if a.counts else ", not an approver"
    return f"{a.identity} for {a.event.environment} via {source} ({a.proof.label}{rule})"


def _stage_text(s: Stage) -> str:
    bits = [f"deployed {s.deployed.at}"] if s.deployed else []
    if s.smoke is not None:
        bits.append(f"smoke {s.smoke_result} {s.smoke.at}")
    if s.rollout:
        bits.append(f"rollout {s.rollout_text}")
    if s.rolled_back is not None:
        bits.append(f"rolled back {s.rolled_back.at}")
    return f"{s.environment}: {', '.join(bits)}"


def _commits_text(commits: Commits | None, width: int, sep: str) -> str:
    """``abc1234 alice, …`` from git, else who made it from the ledger, else unknown."""
    if commits is None:
        return "unknown"
    if commits.commits:
        return sep.join(f"{m.sha[:width]} {m.author}" for m in commits.commits)
    return "made by " + ", ".join(sorted(commits.people))


def to_csv(evidence: Evidence) -> str:
    """One row per change (kind ``change``) and per stopped version (kind ``stopped``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in evidence.changes:
        commits = _commits_text(c.commits, 12, "; ")
        writer.writerow(_cell(v) for v in (
            "change", c.version, c.environment, c.deployed.at,
            "; ".join([c.outcome, *c.emergency]), commits,
            c.commits.source if c.commits else "", "; ".join(map(_approval_text, c.approvals)),
            f"{c.duties.verdict}: {c.duties.detail}", "; ".join(map(_stage_text, c.stages)),
            c.rolled_back.at if c.rolled_back else "", " ".join(c.runs),
            "yes" if c.compliant else "no", "; ".join(c.problems),
        ))
    for s in evidence.stops:
        writer.writerow(_cell(v) for v in (
            "stopped", s.version, s.environment, s.event.at, s.kind, "", "", s.event.who, "", "",
            s.event.at if s.event.event == "rolled_back" else "", s.event.run_url or "", "",
            s.why,
        ))
    return out.getvalue()


def to_markdown(evidence: Evidence) -> str:
    """Two Markdown tables: the changes, then the stopped versions."""
    lacking = len(evidence.lacking)
    verdict = (f"✅ every change ({len(evidence.changes)}) has an independent, verified approval"
               if evidence.compliant else
               f"❌ {lacking} of {len(evidence.changes)} changes lack an independent, verified "
               "approval")
    rows = [
        f"## Evidence: changes to {evidence.environment} ({evidence.period.describe()})", "",
        verdict, "",
        "| Version | Deployed | Outcome | Commits | Approvals | Separation of duties "
        "| Environments | Runs | Verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in evidence.changes:
        commits = _commits_text(c.commits, 7, ", ")
        runs = " ".join(f"[run {n}]({u})" for n, u in enumerate(c.runs, 1)
                        if urlsplit(u).scheme in ("http", "https"))
        cells = [f"v{c.version}", c.deployed.when, "; ".join([c.outcome, *c.emergency]), commits,
                 "; ".join(map(_approval_text, c.approvals)) or "none",
                 f"{c.duties.verdict}: {c.duties.detail}", "; ".join(map(_stage_text, c.stages)),
                 ]
        verdict_cell = "✅ yes" if c.compliant else "❌ " + "; ".join(c.problems)
        rows.append("| " + " | ".join(markdown_cell(x) for x in cells)
                    + f" | {runs} | {markdown_cell(verdict_cell)} |")
    rows += ["", "### Stopped versions", "", "| Version | Where | What | When | By | Why | Proof |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    rows += ["| " + " | ".join(markdown_cell(x) for x in (
        f"v{s.version}", s.environment, s.kind, s.event.when, s.event.who, s.why, s.proof.label,
    )) + " |" for s in evidence.stops]
    return "\n".join(rows) + "\n"
