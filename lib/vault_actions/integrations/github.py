"""PyGithub: deployments, gate reviews, GitHub Releases and environments.

Only commands import this module (PyGithub is slow to import). ``connect`` is the one
place a ``Github`` object is built; the other functions receive it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

import requests
from github import Auth, Github, GithubException, GithubRetry, UnknownObjectException

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


def commit_logins(gh: Github, repository: str, base: str | None, head: str) -> set[str]:
    """The GitHub logins of the authors and committers of the commits in ``base..head``
    (every commit reachable from ``head`` when ``base`` is None), as GitHub links them.

    Reads ``GET /repos/{repo}/compare/{base}...{head}`` (or ``/commits?sha=head``) page
    by page; a commit whose email is linked to no account has no login (``author: null``).
    """
    repo = gh.get_repo(repository)
    url = f"{repo.url}/compare/{base}...{head}" if base else f"{repo.url}/commits"
    extra = {} if base else {"sha": head}
    logins: set[str] = set()
    page = 1
    while True:
        parameters = {**extra, "per_page": 100, "page": page}
        _, data = _call(
            f"listing the commits of {base + '..' if base else ''}{head[:12]} in {repository}",
            partial(gh.requester.requestJsonAndCheck, "GET", url, parameters=parameters),
        )
        commits = (data or {}).get("commits", []) if base else (data or [])
        for commit in commits:
            logins.update(str(person["login"]) for person in
                          (commit.get("author"), commit.get("committer"))
                          if isinstance(person, dict) and person.get("login"))
        if len(commits) < 100:
            return logins
        page += 1


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


def _message(exc: GithubException) -> str:
    """GitHub's ``message`` of a failed call (or the raw data)."""
    return str(exc.data.get("message") if isinstance(exc.data, dict) else exc.data)


# ---------------------------------------------------------------- releases

ReleaseChange = Literal["created", "updated", "unchanged", "missing"]
RELEASE_HINT = (
    "give the job `permissions: {contents: write}` and pass github-token "
    "(default: the job's GITHUB_TOKEN)"
)


@dataclass(frozen=True)
class Release:
    """A GitHub Release as the pipeline reads it."""

    tag: str
    name: str
    body: str
    prerelease: bool
    url: str


def _release_of(raw: Any) -> Release:
    return Release(raw.tag_name, raw.name or "", raw.body or "", raw.prerelease, raw.url)


def _call_needing(what: str, call: Callable[[], T], hint: str) -> T:
    """Like ``_call``; a 403 or 404 gets ``hint`` (the permission the call needs)."""

    def guarded() -> T:
        try:
            return call()
        except GithubException as exc:
            if exc.status not in (403, 404):
                raise
            raise GitHubError(f"{what}: HTTP {exc.status}: {_message(exc)}", hint) from None

    return _call(what, guarded)


def find_release(gh: Github, repository: str, tag: str) -> Release | None:
    """The published release of ``tag`` (``GET …/releases/tags/{tag}``), None on a 404."""
    repo = gh.get_repo(repository)

    def get() -> Release | None:
        try:
            return _release_of(repo.get_release(tag))
        except UnknownObjectException:
            return None

    return _call(f"reading the release {tag} of {repository}", get)


def _edit_release(gh: Github, release: Release, fields: dict[str, Any]) -> None:
    """``PATCH`` only ``fields`` of a release (the others stay as they are)."""
    _call_needing(
        f"updating the release {release.tag}",
        lambda: gh.requester.requestJsonAndCheck("PATCH", release.url, input=fields),
        RELEASE_HINT,
    )
    log.info("release %s: %s updated", release.tag, ", ".join(sorted(fields)))


def publish_prerelease(
    gh: Github, repository: str, tag: str, *, commit: str, notes: str
) -> ReleaseChange:
    """Create the pre-release of ``tag`` at ``commit``, or update a rerun's release notes.

    An existing release keeps its flags (a promoted release stays a full release) and the
    dead notice its body starts with, if any.
    """
    from vault_actions.build.changelog import notice_of, with_notice

    existing = find_release(gh, repository, tag)
    if existing is None:
        repo = gh.get_repo(repository)
        _call_needing(
            f"creating the release {tag} in {repository}",
            lambda: repo.create_git_release(
                tag, name=tag, message=notes, draft=False, prerelease=True,
                target_commitish=commit, make_latest="false",
            ),
            RELEASE_HINT,
        )
        log.info("release %s created as a pre-release", tag)
        return "created"
    notice = notice_of(existing.body)
    body = with_notice(notes, notice) if notice else notes
    if (existing.name, existing.body) == (tag, body):
        return "unchanged"
    _edit_release(gh, existing, {"name": tag, "body": body})
    return "updated"


def is_latest(gh: Github, repository: str, tag: str) -> bool:
    """True when ``tag`` is the repository's latest release (``GET …/releases/latest``)."""
    repo = gh.get_repo(repository)

    def get() -> bool:
        try:
            return bool(repo.get_latest_release().tag_name == tag)
        except UnknownObjectException:
            return False

    return _call(f"reading the latest release of {repository}", get)


def promote_release(gh: Github, repository: str, tag: str) -> ReleaseChange:
    """Mark the release of ``tag`` a full release and the latest one (PROD has it)."""
    existing = find_release(gh, repository, tag)
    if existing is None:
        log.info("no release %s in %s: nothing to mark", tag, repository)
        return "missing"
    if existing.prerelease:
        _edit_release(gh, existing, {"prerelease": False, "make_latest": "true"})
        return "updated"
    if is_latest(gh, repository, tag):
        return "unchanged"
    _edit_release(gh, existing, {"make_latest": "true"})
    return "updated"


def bury_release(gh: Github, repository: str, tag: str, notice: str) -> ReleaseChange:
    """Start the release notes of a dead version with ``notice`` (once); never the latest."""
    from vault_actions.build.changelog import notice_of, with_notice

    existing = find_release(gh, repository, tag)
    if existing is None:
        log.info("no release %s in %s: nothing to mark", tag, repository)
        return "missing"
    if notice_of(existing.body):
        return "unchanged"
    fields: dict[str, Any] = {"body": with_notice(existing.body, notice)}
    if not existing.prerelease:
        fields["prerelease"] = True
    _edit_release(gh, existing, fields)
    return "updated"


# ---------------------------------------------------------------- environments

ReviewerType = Literal["User", "Team"]
Branches = Literal["protected", "custom", "all"]
ADMIN_HINT = (
    "run it with a token of a repository admin (a fine-grained token with "
    "Administration: write, plus Members: read for teams; or `gh auth token`): "
    "the job's GITHUB_TOKEN cannot manage environments"
)


@dataclass(frozen=True)
class RepositoryInfo:
    """What environments depend on: visibility, owner and default branch."""

    full_name: str
    private: bool
    owner: str
    organization: bool
    default_branch: str


@dataclass(frozen=True)
class Reviewer:
    """A required reviewer; equal by type and id (``name`` is the login or org/slug)."""

    type: ReviewerType
    id: int
    name: str = field(compare=False)


@dataclass(frozen=True)
class EnvironmentRules:
    """An environment's protection: reviewers, self-review, wait timer, deploying branches.

    ``branches``: ``protected`` (protected branches only), ``custom`` (name patterns) or
    ``all`` (no deployment branch policy).
    """

    reviewers: frozenset[Reviewer] = frozenset()
    prevent_self_review: bool = False
    wait_timer: int = 0
    branches: Branches = "all"

    def ordered_reviewers(self) -> list[Reviewer]:
        """Users, then teams, each by name."""
        return sorted(self.reviewers, key=lambda r: (r.type != "User", r.name.casefold()))


def repository_info(gh: Github, repository: str) -> RepositoryInfo:
    """``GET /repos/{repository}``."""
    repo = gh.get_repo(repository)
    return _call_needing(
        f"reading the repository {repository}",
        lambda: RepositoryInfo(
            repo.full_name, repo.private, repo.owner.login, repo.owner.type == "Organization",
            repo.default_branch,
        ),
        ADMIN_HINT,
    )


def branch_protected(gh: Github, repository: str, branch: str) -> bool:
    """Whether GitHub reports ``branch`` as protected (``GET …/branches/{branch}``)."""
    repo = gh.get_repo(repository)
    return _call_needing(
        f"reading the branch {branch} of {repository}",
        lambda: repo.get_branch(branch).protected,
        ADMIN_HINT,
    )


def user_reviewer(gh: Github, login: str) -> Reviewer | None:
    """The user ``login`` (``GET /users/{login}``), None when there is no such user."""
    def get() -> Reviewer | None:
        try:
            user = gh.get_user(login)
        except UnknownObjectException:
            return None
        return Reviewer("User", user.id, user.login)

    return _call(f"looking up the GitHub user {login}", get)


def team_reviewer(gh: Github, org: str, slug: str) -> Reviewer | None:
    """The team ``org/slug`` (``GET /orgs/{org}/teams/{slug}``), None when not found."""
    def get() -> Reviewer | None:
        try:
            team = gh.get_organization(org).get_team_by_slug(slug)
            return Reviewer("Team", team.id, f"{org}/{team.slug}")
        except UnknownObjectException:
            return None

    return _call(f"looking up the team {org}/{slug}", get)


def environments(gh: Github, repository: str) -> dict[str, EnvironmentRules]:
    """Every environment of the repository and its rules (``GET …/environments``)."""
    url = f"{gh.get_repo(repository).url}/environments"

    def fetch(page: int) -> dict[str, Any]:
        _, data = gh.requester.requestJsonAndCheck(
            "GET", url, parameters={"per_page": 100, "page": page}
        )
        return dict(data)

    found: dict[str, EnvironmentRules] = {}
    page, total = 1, 1
    while len(found) < total:
        data = _call_needing(
            f"listing the environments of {repository}", partial(fetch, page), ADMIN_HINT
        )
        listed = data.get("environments") or []
        found.update((str(raw["name"]), _rules_of(raw)) for raw in listed)
        total = int(data.get("total_count") or 0) if listed else len(found)
        page += 1
    return found


def _rules_of(raw: dict[str, Any]) -> EnvironmentRules:
    """Rules from one environment object of the REST API."""
    reviewers: frozenset[Reviewer] = frozenset()
    prevent, wait = False, 0
    for rule in raw.get("protection_rules") or []:
        if rule.get("type") == "required_reviewers":
            reviewers = frozenset(_reviewer_of(r) for r in rule.get("reviewers") or [])
            prevent = bool(rule.get("prevent_self_review"))
        elif rule.get("type") == "wait_timer":
            wait = int(rule.get("wait_timer") or 0)
    policy = raw.get("deployment_branch_policy")
    branches: Branches = "all"
    if policy:
        branches = "protected" if policy.get("protected_branches") else "custom"
    return EnvironmentRules(reviewers, prevent, wait, branches)


def _reviewer_of(raw: dict[str, Any]) -> Reviewer:
    who = raw.get("reviewer") or {}
    if raw.get("type") == "Team":
        _, orgs, rest = str(who.get("html_url") or "").partition("/orgs/")
        org = rest.split("/")[0] if orgs else ""
        slug = str(who.get("slug") or who.get("name") or "")
        return Reviewer("Team", int(who["id"]), f"{org}/{slug}" if org else slug)
    return Reviewer("User", int(who["id"]), str(who.get("login") or ""))


def put_environment(gh: Github, repository: str, name: str, rules: EnvironmentRules) -> bool:
    """Create or update environment ``name`` with exactly ``rules`` (``PUT``, an upsert).

    False when GitHub refuses a rule because of the billing plan (422 "… billing plan …":
    required reviewers on private repositories need GitHub Enterprise; deployment branch
    policies need Pro or Team). ``custom`` branches cannot be written (no patterns).
    """
    from github.EnvironmentDeploymentBranchPolicy import EnvironmentDeploymentBranchPolicyParams
    from github.EnvironmentProtectionRuleReviewer import ReviewerParams

    repo = gh.get_repo(repository)
    policy = EnvironmentDeploymentBranchPolicyParams(protected_branches=True,
                                                     custom_branch_policies=False)

    def put() -> bool:
        try:
            repo.create_environment(
                name,
                wait_timer=rules.wait_timer,
                reviewers=[ReviewerParams(r.type, r.id) for r in rules.ordered_reviewers()],
                prevent_self_review=rules.prevent_self_review,
                deployment_branch_policy=policy if rules.branches == "protected" else None,
            )
        except GithubException as exc:
            if exc.status == 422 and "plan" in _message(exc).lower():
                log.info("environment %s: refused by the plan: %s", name, _message(exc))
                return False
            if exc.status == 422:
                raise GitHubError(
                    f"writing the environment {name} of {repository}: HTTP 422: "
                    f"{_message(exc)}",
                    "check the gate's approvers and teams in vault.yml: at most six, each "
                    "with at least read access to the repository",
                ) from None
            raise
        return True

    return _call_needing(f"writing the environment {name} of {repository}", put, ADMIN_HINT)


def oidc_subject_claims(gh: Github, repository: str) -> tuple[str, ...] | None:
    """The claims the repository's OIDC tokens build ``sub`` from, or None for GitHub's
    default (``GET …/actions/oidc/customization/sub``)."""
    url = f"{gh.get_repo(repository).url}/actions/oidc/customization/sub"
    _, data = _call_needing(
        f"reading the OIDC subject of {repository}",
        partial(gh.requester.requestJsonAndCheck, "GET", url), ADMIN_HINT,
    )
    if not isinstance(data, dict) or data.get("use_default", True):
        return None
    return tuple(str(k) for k in data.get("include_claim_keys") or ())


def set_oidc_subject_claims(gh: Github, repository: str, claims: tuple[str, ...]) -> None:
    """Make the repository's OIDC ``sub`` from ``claims`` (``PUT …/oidc/customization/sub``)."""
    url = f"{gh.get_repo(repository).url}/actions/oidc/customization/sub"
    _call_needing(
        f"setting the OIDC subject of {repository}",
        partial(gh.requester.requestJsonAndCheck, "PUT", url,
                input={"use_default": False, "include_claim_keys": list(claims)}),
        ADMIN_HINT,
    )
    log.info("%s: OIDC subject made of %s", repository, ", ".join(claims))
