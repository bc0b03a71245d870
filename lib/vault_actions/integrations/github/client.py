"""PyGithub's one door: ``connect`` builds every ``Github`` client; ``call`` maps failures.

The sibling modules (gates, deployments, releases, environments) receive the client and
run each request through ``call`` or ``call_needing``, so every failure is a GitHubError
naming what was attempted and the permission it needs. PyGithub is slow to import: only
commands import these modules, inside their functions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

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


def connect(token: str, api_url: str) -> Github:
    """A Github client whose retries honour ``retry-after`` and the rate-limit headers.

    5xx and rate-limited 403s are retried ``RETRIES`` times; a rate-limit reset further
    away than ``MAX_RATE_LIMIT_WAIT_SECONDS`` fails at once instead of waiting.
    """
    retry = GithubRetry(
        total=RETRIES,
        backoff_factor=BACKOFF_SECONDS,
        max_rate_limit_wait=MAX_RATE_LIMIT_WAIT_SECONDS,
        # PATCH (release updates) and POST are retried too: every write here is idempotent
        # (deployment statuses and release edits state the whole desired value).
        allowed_methods=frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"}),
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



def call(what: str, request: Callable[[], T]) -> T:
    """Run a GitHub request; every failure becomes a GitHubError naming ``what``."""
    try:
        return request()
    except GithubException as exc:
        raise GitHubError(f"{what}: HTTP {exc.status}: {message(exc)}", hint(exc.status)) from None
    except requests.RequestException as exc:
        raise GitHubError(
            f"{what}: GitHub could not be reached ({type(exc).__name__}: {exc})",
            "check https://www.githubstatus.com and rerun the job",
        ) from None


def call_needing(what: str, request: Callable[[], T], needs: str) -> T:
    """Like ``call``; a 403 or 404 gets ``needs`` (the permission the request needs)."""

    def guarded() -> T:
        try:
            return request()
        except GithubException as exc:
            if exc.status not in (403, 404):
                raise
            raise GitHubError(f"{what}: HTTP {exc.status}: {message(exc)}", needs) from None

    return call(what, guarded)


def hint(status: int) -> str:
    """What to do about an HTTP ``status`` from GitHub."""
    if status == 401:
        return "the token is invalid or expired: pass a valid github-token"
    if status in (403, 404):
        return PERMISSIONS_HINT
    return "check https://www.githubstatus.com and rerun the job"


def message(exc: GithubException) -> str:
    """GitHub's ``message`` of a failed call (or the raw data)."""
    return str(exc.data.get("message") if isinstance(exc.data, dict) else exc.data)
