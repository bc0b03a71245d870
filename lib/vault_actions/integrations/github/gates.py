"""The decision a reviewer made on an environment's gate in a workflow run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from vault_actions.integrations.github.client import call

if TYPE_CHECKING:
    from github import Github

log = logging.getLogger(__name__)

ReviewState = Literal["approved", "rejected"]


@dataclass(frozen=True)
class Review:
    """One reviewer's decision on an environment's gate in a workflow run."""

    state: ReviewState
    login: str
    comment: str
    environments: tuple[str, ...]

    def covers(self, environment: str) -> bool:
        """True when the review decided ``environment`` (names are case-insensitive)."""
        return environment.casefold() in (e.casefold() for e in self.environments)


def gate_review(gh: Github, repository: str, run_id: str, environment: str) -> Review | None:
    """The decision on ``environment``'s gate in run ``run_id``, or None if none was made.

    Reads ``GET /repos/{repo}/actions/runs/{run_id}/approvals`` (the review history,
    which has no timestamps). A rejection anywhere in the history wins over approvals.
    """
    repo = gh.get_repo(repository)
    url = f"{repo.url}/actions/runs/{run_id}/approvals"
    _, entries = call(
        f"reading the gate reviews of run {run_id} in {repository}",
        lambda: gh.requester.requestJsonAndCheck("GET", url),
    )
    reviews = [r for r in map(_review, entries or []) if r and r.covers(environment)]
    rejected = [r for r in reviews if r.state == "rejected"]
    approved = [r for r in reviews if r.state == "approved"]
    decisive = rejected or approved
    found = decisive[-1] if decisive else None
    log.info("gate of %s in run %s: %s", environment, run_id,
             f"{found.state} by {found.login}" if found else "no review")
    return found


def _review(entry: dict[str, Any]) -> Review | None:
    """A Review from one history entry (None for pending or malformed entries)."""
    state = entry.get("state")
    login = (entry.get("user") or {}).get("login")
    names = tuple(str(e.get("name", "")) for e in entry.get("environments") or [])
    if state not in ("approved", "rejected") or not login or not names:
        return None
    return Review(state, str(login), str(entry.get("comment") or ""), names)

