"""PyGithub: deployments on the Environments page and gate reviews from Actions.

Only commands import this module (PyGithub is slow to import). ``connect`` is the one
place a ``Github`` object is built; the other functions receive it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import requests
from github import Auth, Github, GithubException, GithubRetry

from vault_actions.errors import GitHubError

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRIES = 4
BACKOFF_SECONDS = 1.0
MAX_RATE_LIMIT_WAIT_SECONDS = 300.0
# GitHub's guidance against secondary rate limits (PyGithub's defaults).
SECONDS_BETWEEN_REQUESTS: float | None = 0.25
SECONDS_BETWEEN_WRITES: float | None = 1.0
TIMEOUT_SECONDS = 15
PERMISSIONS_HINT = (
    "give the workflow `permissions: {actions: read, deployments: write}` and pass "
    "github-token (default: the job's GITHUB_TOKEN)"
)

ReviewState = Literal["approved", "rejected"]
DeploymentState = Literal["in_progress", "success", "failure", "error", "inactive"]


def connect(token: str, api_url: str) -> Github:
    """A Github client whose retries honour ``retry-after`` and the rate-limit headers.

    5xx and rate-limited 403s are retried ``RETRIES`` times; a rate-limit reset further
    away than ``MAX_RATE_LIMIT_WAIT_SECONDS`` fails at once instead of waiting.
    """
    retry = GithubRetry(
        total=RETRIES,
        backoff_factor=BACKOFF_SECONDS,
        max_rate_limit_wait=MAX_RATE_LIMIT_WAIT_SECONDS,
    )
    return Github(
        auth=Auth.Token(token),
        base_url=api_url,
        retry=retry,
        timeout=TIMEOUT_SECONDS,
        seconds_between_requests=SECONDS_BETWEEN_REQUESTS,
        seconds_between_writes=SECONDS_BETWEEN_WRITES,
        lazy=True,
    )


def _call(what: str, call: Callable[[], T]) -> T:
    """Run a GitHub call; every failure becomes a GitHubError naming ``what``."""
    try:
        return call()
    except GithubException as exc:
        message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
        raise GitHubError(f"{what}: HTTP {exc.status}: {message}", _hint(exc.status)) from None
    except requests.RequestException as exc:
        raise GitHubError(
            f"{what}: GitHub could not be reached ({type(exc).__name__}: {exc})",
            "check https://www.githubstatus.com and rerun the job",
        ) from None


def _hint(status: int) -> str:
    if status == 401:
        return "the token is invalid or expired: pass a valid github-token"
    if status in (403, 404):
        return PERMISSIONS_HINT
    return "check https://www.githubstatus.com and rerun the job"


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
    _, entries = _call(
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


@dataclass(frozen=True)
class Deployment:
    """A GitHub Deployment: its id and API URL."""

    id: int
    url: str


def start_deployment(
    gh: Github,
    repository: str,
    *,
    tag: str,
    environment: str,
    version: str,
    production: bool,
    log_url: str | None,
) -> Deployment:
    """Create a Deployment of ``tag`` to ``environment`` and mark it in progress."""
    repo = gh.get_repo(repository)
    created = _call(
        f"creating a deployment of {tag} to {environment} in {repository}",
        lambda: repo.create_deployment(
            ref=tag,
            task="deploy",
            auto_merge=False,
            required_contexts=[],
            payload={"version": version},
            environment=environment,
            description=f"{tag} → {environment}",
            transient_environment=False,
            production_environment=production,
        ),
    )
    deployment = Deployment(created.id, created.url)
    set_status(gh, deployment, "in_progress", log_url=log_url,
               description=f"deploying {tag} to {environment}")
    return deployment


def set_status(
    gh: Github,
    deployment: Deployment,
    state: DeploymentState,
    *,
    log_url: str | None,
    description: str,
    environment_url: str | None = None,
) -> None:
    """Post a deployment status (``log_url`` links the run, ``environment_url`` the app)."""
    body: dict[str, Any] = {"state": state, "description": description[:140]}
    if log_url:
        body["log_url"] = log_url
    if environment_url:
        body["environment_url"] = environment_url
    _call(
        f"setting deployment {deployment.id} to {state}",
        lambda: gh.requester.requestJsonAndCheck(
            "POST", f"{deployment.url}/statuses", input=body
        ),
    )
