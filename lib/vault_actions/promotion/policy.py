"""The promotion policy: who may go where, decided from a version's journey.

The gate stage (``promotion.gates``) builds on it: ``may_approve`` is here because
``check_approval`` (part of every promotion) counts approvals with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import semver

from vault_actions.errors import PromotionRefused
from vault_actions.promotion.journey import Journey
from vault_actions.store.ledger import GITHUB_GATE, NEW_VERSION_HINT, Event

if TYPE_CHECKING:
    from vault_actions.config import Config, Environment, Freeze

OVERRIDE_HINT = "or break the glass: --override-freeze --reason TEXT (it is recorded)"


def may_approve(env: Environment, name: str) -> bool:
    """True when ``name`` is one of the gate's approvers (a teams-only gate has none:
    only GitHub's environment gate, which checks team membership, can approve it)."""
    approvers = env.gate.approvers if env.gate else ()
    return name.casefold() in {a.casefold() for a in approvers}


SOD_OPT_OUT = "gate.allow-author-approval: true"


def makers(journey: Journey) -> frozenset[str] | None:
    """Who authored or committed the release's commits (logins and emails, case-folded),
    as its ``built`` event says; None when no built event says it."""
    built = journey.last("built")
    people = built.details.get("people") if built else None
    if not isinstance(people, list):
        return None
    return frozenset(str(p).casefold() for p in people)


def independent(env: Environment, journey: Journey, name: str) -> bool:
    """Separation of duties: True when ``name`` made none of the release's commits (or the
    gate opts out). A release whose makers are unknown has no independent approver."""
    if env.gate is not None and env.gate.allow_author_approval:
        return True
    found = makers(journey)
    return found is not None and name.casefold() not in found


def approval_counts(env: Environment, approval: Event) -> bool:
    """An approval's author may approve: an approver, or GitHub's environment gate (whose
    required reviewers include the gate's teams) approved it: GitHub checked the team
    membership that the ledger cannot see. Separation of duties is ``independent``."""
    by_team = bool(env.gate and env.gate.teams) and approval.details.get("source") == GITHUB_GATE
    return by_team or may_approve(env, approval.who)


def _counts(env: Environment, journey: Journey, approval: Event) -> bool:
    """An approval counts when an authorised, independent person gave it."""
    return approval_counts(env, approval) and independent(env, journey, approval.who)


def not_independent(
    env: Environment, journey: Journey, names: str, *, approved: bool = True
) -> PromotionRefused:
    version = journey.version
    if makers(journey) is None:
        return PromotionRefused(
            f"v{version}'s built event does not say who made the release, so no approval "
            f"for {env.name} can be shown independent of the change (separation of duties)",
            f"rerun the build of v{version}'s commit with this version of vault-actions, or "
            f"set {SOD_OPT_OUT} on {env.name}'s gate in vault.yml",
        )
    done = (f"v{version} was approved for {env.name} only by {names}, who" if approved
            else f"{names} may not approve v{version} for {env.name}:")
    return PromotionRefused(
        f"{done} authored or committed commits of the release: the approver must be "
        "independent of the change (separation of duties)",
        f"ask an approver who made none of the release's commits; or set {SOD_OPT_OUT} "
        f"on {env.name}'s gate in vault.yml to opt out",
    )


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
    if any(_counts(env, journey, e) for e in approvals):
        return
    authorised = [e for e in approvals if approval_counts(env, e)]
    if authorised:
        raise not_independent(env, journey, ", ".join(sorted({e.who for e in authorised})))
    version = journey.version
    approvers = ", ".join(env.gate.approvers) if env.gate and env.gate.approvers else ""
    how = f"the gate workflow (vault-gate.yml) for {env.name} v{version}, run by the approver"
    if approvals:
        names = ", ".join(sorted({e.who for e in approvals}))
        raise PromotionRefused(
            f"v{version} was approved for {env.name} only by {names}, "
            f"who may not approve it (approvers: {approvers})",
            f"ask one of {approvers} to approve in GitHub or with {how}",
        )
    who = f"one of {approvers}" if approvers else "an approver"
    raise PromotionRefused(
        f"v{version} has not been approved for {env.name}, which is gated",
        f"{who} approves the {env.name} deployment in GitHub, or with {how}",
    )


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes >= 1 else f"{delta.total_seconds():.0f} s"


def check_bake(
    cfg: Config, journey: Journey, env: Environment, now: datetime | None = None
) -> None:
    """PromotionRefused while the version has not stood in the previous environment for
    its ``promote-after-minutes``; the refusal says how long is left."""
    previous = cfg.previous(env)
    if previous is None or previous.promote_after_minutes <= 0:
        return
    standing = journey.standing(previous.name)
    if standing is None:
        return  # check_previous refuses it
    stood = (now or datetime.now(UTC)) - standing.time
    needed = timedelta(minutes=previous.promote_after_minutes)
    if stood >= needed:
        return
    left = needed - stood
    raise PromotionRefused(
        f"v{journey.version} has stood in {previous.name} for {_minutes(stood)} (since "
        f"{standing.when}); {env.name} takes versions that stood there "
        f"{previous.promote_after_minutes:g} min: {_minutes(left)} left",
        f"retry after {(standing.time + needed).astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
    )


def active_freeze(env: Environment, now: datetime) -> tuple[Freeze, datetime] | None:
    """The freeze window ``now`` falls in, and when it ends (None when there is none)."""
    for window in env.freezes:
        end = _freeze_end(window, now)
        if end is not None:
            return window, end
    return None


def _freeze_end(window: Freeze, now: datetime) -> datetime | None:
    """When ``window`` (absolute or weekly) ends, if ``now`` is in it; chained weekly
    occurrences (Sat 00:00-24:00 then Sun) count as one window."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(window.time_zone)
    if window.start is not None and window.end is not None:
        start, stop = (t if t.tzinfo else t.replace(tzinfo=zone)
                       for t in (window.start, window.end))
        return stop if start <= now < stop else None
    end: datetime | None = None
    for _ in range(8):
        found = _weekly_end(window, (end or now).astimezone(zone))
        if found is None:
            break
        end = found
    return end


def _weekly_end(window: Freeze, local: datetime) -> datetime | None:
    """The end of the weekly occurrence that covers ``local`` (a start at ``local`` counts)."""
    from vault_actions.config import WEEKDAYS

    assert window.daily_start is not None and window.daily_end is not None
    for back in range(8):
        day = (local - timedelta(days=back)).date()
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        start = datetime.combine(day, window.daily_start, local.tzinfo)
        end = datetime.combine(day, window.daily_end, local.tzinfo)
        if end <= start:
            end += timedelta(days=1)
        if start <= local < end:
            return end
    return None


def check_freeze(
    env: Environment, now: datetime | None = None, override_reason: str | None = None
) -> tuple[Freeze, datetime] | None:
    """PromotionRefused inside a freeze window of ``env`` unless overridden with a reason;
    returns the window overridden (None when there is none)."""
    frozen = active_freeze(env, now or datetime.now(UTC))
    if frozen is None:
        return None
    window, end = frozen
    if override_reason:
        return frozen
    raise PromotionRefused(
        f"{env.name} is frozen: window {window.name!r} until "
        f"{end.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({end:%Y-%m-%d %H:%M} {window.time_zone})",
        f"deploy after the window ends, {OVERRIDE_HINT}",
    )


def check_promotion(
    cfg: Config, journey: Journey, env: Environment, now: datetime | None = None
) -> None:
    """The promotion policy: alive, passed the previous environment (and stood there long
    enough), approved if gated.

    The first environment needs no ``built`` event: the deploy requires the manifest,
    which is the proof of a complete build (releases built before the ledger still deploy).
    """
    check_alive(journey)
    check_previous(cfg, journey, env)
    check_bake(cfg, journey, env, now)
    check_approval(journey, env)


def check_live(journey: Journey, live: str | None, env: str) -> None:
    """PromotionRefused unless ``journey``'s version is alive and is ``live``, what ``env``
    runs now (both by the events that count: ``promotion.live.Reader``)."""
    version = journey.version
    check_alive(journey)
    if live == version:
        return
    if journey.last("deployed", env) is None and journey.last("dr_synced", env) is None:
        raise PromotionRefused(
            f"v{version} has never been deployed to {env}; there is nothing to smoke-test",
            f"deploy it first: vault deploy --env {env} --version {version}",
        )
    now = f"{env} now runs v{live}" if live else f"nothing is live in {env}"
    raise PromotionRefused(
        f"v{version} is no longer live in {env} ({now}); a smoke test would test other code",
        f"smoke-test what is live: vault smoke --env {env} --version {live}"
        if live
        else f"deploy it again: vault deploy --env {env} --version {version}",
    )


def check_forward(journey: Journey, env: Environment, live: str | None) -> None:
    """PromotionRefused when ``env`` runs a newer version than the journey's (``live``):
    a deploy never silently downgrades. Going back on purpose is a rollback, its own
    use case, which does not call this check."""
    if live is None or semver.Version.parse(live) <= semver.Version.parse(journey.version):
        return
    raise PromotionRefused(
        f"{env.name} runs v{live}, which is newer than v{journey.version}: a deploy never "
        f"downgrades an environment",
        f"release the fix as a new version (push a fix: commit); going back to "
        f"v{journey.version} on purpose is a rollback, not a deploy",
    )


def rollback_target(
    journeys: Mapping[str, Journey], live: Mapping[str, str], env: Environment,
    to: str | None = None,
) -> tuple[str, str]:
    """``(from, to)`` of an emergency rollback of ``env``: from the live version to the last
    other version that passed there (or ``to``, which must have); PromotionRefused else."""
    current = live.get(env.name)
    if current is None:
        raise PromotionRefused(
            f"nothing is live in {env.name}: there is nothing to roll back",
            "`vault status` shows what each environment runs",
        )
    if to is not None:
        problem = _rollback_problem(journeys.get(to), current, env)
        if problem:
            raise PromotionRefused(
                f"cannot roll {env.name} back to v{to}: {problem}",
                f"name a version that passed {env.name} (or omit --to for the last one)",
            )
        return current, to
    candidates = [j for j in journeys.values() if not _rollback_problem(j, current, env)]
    if not candidates:
        raise PromotionRefused(
            f"no version other than v{current} (live) passed {env.name} and is alive",
            "fix forward: release a new version",
        )
    latest = max(candidates, key=lambda j: _deployed_at(j, env.name))
    return current, latest.version


def _deployed_at(journey: Journey, env: str) -> tuple[datetime, str]:
    deployed = journey.standing(env)
    assert deployed is not None
    return (deployed.time, deployed.id)


def _rollback_problem(journey: Journey | None, current: str, env: Environment) -> str | None:
    if journey is None:
        return "the ledger has no event for it"
    if journey.version == current:
        return "it is the live version"
    if journey.death is not None:
        return f"it is dead ({journey.death.describe()})"
    if journey.standing(env.name) is None:
        return f"it never stood in {env.name}"
    if env.smoke_tested and not journey.passed(env.name):
        return f"it never passed its smoke test in {env.name}"
    return None
