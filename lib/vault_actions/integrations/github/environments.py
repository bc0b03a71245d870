"""The repository's GitHub environments: reviewers, self-review and deploying branches."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from github import GithubException, UnknownObjectException

from vault_actions.errors import GitHubError
from vault_actions.integrations.github.client import call, call_needing, message

if TYPE_CHECKING:
    from github import Github

log = logging.getLogger(__name__)

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
    return call_needing(
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
    return call_needing(
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

    return call(f"looking up the GitHub user {login}", get)


def team_reviewer(gh: Github, org: str, slug: str) -> Reviewer | None:
    """The team ``org/slug`` (``GET /orgs/{org}/teams/{slug}``), None when not found."""
    def get() -> Reviewer | None:
        try:
            team = gh.get_organization(org).get_team_by_slug(slug)
            return Reviewer("Team", team.id, f"{org}/{team.slug}")
        except UnknownObjectException:
            return None

    return call(f"looking up the team {org}/{slug}", get)


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
        data = call_needing(
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
            if exc.status == 422 and "plan" in message(exc).lower():
                log.info("environment %s: refused by the plan: %s", name, message(exc))
                return False
            if exc.status == 422:
                raise GitHubError(
                    f"writing the environment {name} of {repository}: HTTP 422: "
                    f"{message(exc)}",
                    "check the gate's approvers and teams in vault.yml: at most six, each "
                    "with at least read access to the repository",
                ) from None
            raise
        return True

    return call_needing(f"writing the environment {name} of {repository}", put, ADMIN_HINT)



def oidc_subject_claims(gh: Github, repository: str) -> tuple[str, ...] | None:
    """The claims the repository's OIDC tokens build ``sub`` from, or None for GitHub's
    default (``GET …/actions/oidc/customization/sub``)."""
    url = f"{gh.get_repo(repository).url}/actions/oidc/customization/sub"
    _, data = call_needing(
        f"reading the OIDC subject of {repository}",
        partial(gh.requester.requestJsonAndCheck, "GET", url), ADMIN_HINT,
    )
    if not isinstance(data, dict) or data.get("use_default", True):
        return None
    return tuple(str(k) for k in data.get("include_claim_keys") or ())


def set_oidc_subject_claims(gh: Github, repository: str, claims: tuple[str, ...]) -> None:
    """Make the repository's OIDC ``sub`` from ``claims`` (``PUT …/oidc/customization/sub``)."""
    url = f"{gh.get_repo(repository).url}/actions/oidc/customization/sub"
    call_needing(
        f"setting the OIDC subject of {repository}",
        partial(gh.requester.requestJsonAndCheck, "PUT", url,
                input={"use_default": False, "include_claim_keys": list(claims)}),
        ADMIN_HINT,
    )
    log.info("%s: OIDC subject made of %s", repository, ", ".join(claims))
