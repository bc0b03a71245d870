"""The repository's GitHub environments, as vault.yml says (``vault setup-environments``).

Every environment of vault.yml gets a deployment branch policy (protected branches only);
a gated one also gets its ``approvers`` and ``teams`` as required reviewers, who may not
approve their own runs. Existing environments are compared first and written only when
they differ (the PUT is an upsert). Where the repository's plan refuses a rule (private
repositories need GitHub Enterprise for required reviewers), the rule is left out and the
output points at the fallback: the ``gate`` workflow (docs/approval-gates.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from vault_actions.config import OIDC_SUBJECT_CLAIMS
from vault_actions.errors import ConfigError, GitHubError

if TYPE_CHECKING:
    from github import Github

    from vault_actions.config import Config, Environment
    from vault_actions.integrations.github.environments import (
        EnvironmentRules,
        RepositoryInfo,
        Reviewer,
    )

MAX_REVIEWERS = 6  # GitHub's limit per environment
Limit = Literal["required-reviewers", "branch-policy"]
ADMIN_ACCESS_HINT = (
    "export GITHUB_TOKEN with a token of a repository admin (a fine-grained token with "
    "Administration: write, plus Members: read for teams; or GITHUB_TOKEN=$(gh auth token))"
)
FALLBACK = (
    "gated deploys are still refused until an approval is in the ledger: approve with the "
    "gate workflow (.github/workflows/gate.yml, written by `vault init`: Actions → gate → "
    "Run workflow), which records the person who runs it and refuses anyone who is not one "
    "of the gate's approvers in vault.yml; see docs/approval-gates.md"
)


@dataclass(frozen=True)
class Change:
    """What happened to one environment: created, updated, unchanged (or would be)."""

    name: str
    action: str
    rules: EnvironmentRules

    def to_json(self) -> dict[str, Any]:
        """The change as JSON-ready data."""
        return {
            "name": self.name,
            "action": self.action,
            "reviewers": [
                {"type": r.type, "id": r.id, "name": r.name}
                for r in self.rules.ordered_reviewers()
            ],
            "prevent_self_review": self.rules.prevent_self_review,
            "branches": self.rules.branches,
        }

    def describe(self) -> str:
        """``uat  created  reviewers: qa-lead, acme/qa (no self-review) · branches: …``."""
        names = [r.name for r in self.rules.ordered_reviewers()]
        return _describe(self.name, self.action, names, self.rules.prevent_self_review,
                         self.rules.branches)


def _describe(
    name: str, action: str, reviewers: list[str], prevent_self_review: bool, branches: str
) -> str:
    who = f"reviewers: {', '.join(reviewers)}" if reviewers else "no reviewers"
    if prevent_self_review:
        who += " (no self-review)"
    where = {"protected": "protected branches", "all": "any branch"}.get(branches, branches)
    return f"{name:<8} {action:<13} {who} · deploys from {where}"


NOT_COMPARED = (
    "not compared with GitHub (no GITHUB_TOKEN): which of these environments exist and how "
    "they are set now (so whether each is created, updated or unchanged), whether every "
    "approver and team exists, whether the repository's plan allows required reviewers "
    "(private repositories need GitHub Enterprise Cloud) and whether the default branch is "
    f"protected. To compare, {ADMIN_ACCESS_HINT} and run it again"
)


@dataclass(frozen=True)
class OfflinePlan:
    """What ``setup`` would ask GitHub for, from vault.yml alone."""

    data: dict[str, Any]
    lines: list[str]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return self.data

    def describe(self) -> str:
        """A heading, one line per environment, then what was not compared."""
        return "\n".join(self.lines)


def offline_plan(cfg: Config, repository: str | None) -> OfflinePlan:
    """What ``setup`` would ask GitHub for, from vault.yml alone (no token, no request)."""
    _check_reviewer_counts(cfg)
    owner = repository.split("/")[0] if repository else "ORG"
    planned: list[dict[str, Any]] = []
    lines = [f"{repository or 'the repository'} — dry run from {cfg.path.name} alone, "
             "nothing compared or written:"]
    for env in cfg.environments:
        users = sorted(env.gate.approvers, key=str.casefold) if env.gate else []
        teams = sorted((t if "/" in t else f"{owner}/{t}" for t in env.gate.teams),
                       key=str.casefold) if env.gate else []
        reviewed = bool(users or teams)
        planned.append({
            "name": env.name,
            "action": "would set",
            "reviewers": [{"type": "User", "id": None, "name": u} for u in users]
            + [{"type": "Team", "id": None, "name": t} for t in teams],
            "prevent_self_review": reviewed,
            "branches": "protected",
        })
        lines.append("  " + _describe(env.name, "would set", [*users, *teams], reviewed,
                                      "protected"))
    lines.append(f"⚠ {NOT_COMPARED}.")
    data = {
        "repository": repository,
        "dry_run": True,
        "compared": False,
        "environments": planned,
        "warnings": [f"{NOT_COMPARED}."],
    }
    return OfflinePlan(data, lines)


@dataclass(frozen=True)
class EnvironmentsSetup:
    """What ``setup`` did (or would do): one change per environment, and warnings."""

    repository: RepositoryInfo
    dry_run: bool
    changes: list[Change]
    unsupported: list[str]
    warnings: list[str]
    oidc_subject: str  # unchanged, set or would set

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "repository": self.repository.full_name,
            "private": self.repository.private,
            "dry_run": self.dry_run,
            "oidc_subject": {"claims": list(OIDC_SUBJECT_CLAIMS), "action": self.oidc_subject},
            "environments": [c.to_json() for c in self.changes],
            "unsupported": self.unsupported,
            "warnings": self.warnings,
        }

    def describe(self) -> str:
        """A heading, one line per environment, then the warnings."""
        info = self.repository
        visibility = "private" if info.private else "public"
        dry = " — dry run, nothing written" if self.dry_run else ""
        head = f"{info.full_name} ({visibility}){dry}:"
        claims = ", ".join(OIDC_SUBJECT_CLAIMS)
        subject = (f"  {'OIDC sub':<8} {self.oidc_subject:<13} made of {claims} "
                   "(the IAM roles pin it)")
        lines = [head, subject, *(f"  {c.describe()}" for c in self.changes)]
        return "\n".join([*lines, *(f"⚠ {w}" for w in self.warnings)])


def setup(gh: Github, cfg: Config, repository: str, *, dry_run: bool) -> EnvironmentsSetup:
    """Plan every environment, write the ones that differ (unless ``dry_run``)."""
    from vault_actions.integrations.github import environments

    _check_reviewer_counts(cfg)
    info = environments.repository_info(gh, repository)
    existing = environments.environments(gh, repository)
    resolve = _Resolver(gh, info)
    wanted = {env.name: _wanted(env, resolve) for env in cfg.environments}  # all, then write
    limits: set[Limit] = set()
    changes = [
        _apply(gh, info, name, rules, existing.get(name), limits=limits, dry_run=dry_run)
        for name, rules in wanted.items()
    ]
    warnings = _warnings(gh, cfg, info, limits, changes, dry_run=dry_run)
    subject = _oidc_subject(gh, info.full_name, dry_run=dry_run)
    return EnvironmentsSetup(info, dry_run, changes, sorted(limits), warnings, subject)


def _oidc_subject(gh: Github, repository: str, *, dry_run: bool) -> str:
    """Make the repository's OIDC ``sub`` name the job's context and workflow, which the
    roles of infra/vault.yaml trust (``job_workflow_ref``); what was done."""
    from vault_actions.integrations.github import environments

    if environments.oidc_subject_claims(gh, repository) == OIDC_SUBJECT_CLAIMS:
        return "unchanged"
    if dry_run:
        return "would set"
    environments.set_oidc_subject_claims(gh, repository, OIDC_SUBJECT_CLAIMS)
    return "set"


def _check_reviewer_counts(cfg: Config) -> None:
    for env in cfg.environments:
        gate = env.gate
        if gate and len(gate.approvers) + len(gate.teams) > MAX_REVIEWERS:
            raise ConfigError(
                f"{cfg.path}: environments[{env.name}].gate lists "
                f"{len(gate.approvers) + len(gate.teams)} approvers and teams; GitHub allows "
                f"{MAX_REVIEWERS} required reviewers per environment",
                "list at most six, e.g. replace several people with a team",
            )


@dataclass
class _Resolver:
    """Approver logins and team slugs → GitHub ids, each looked up once."""

    gh: Github
    info: RepositoryInfo
    seen: dict[str, Reviewer] = field(default_factory=dict)

    def __call__(self, env: Environment) -> frozenset[Reviewer]:
        gate = env.gate
        if gate is None:
            return frozenset()
        return frozenset(
            [self._user(env, login) for login in gate.approvers]
            + [self._team(env, team) for team in gate.teams]
        )

    def _user(self, env: Environment, login: str) -> Reviewer:
        from vault_actions.integrations.github import environments

        key = f"user:{login.casefold()}"
        if key not in self.seen:
            found = environments.user_reviewer(self.gh, login)
            if found is None:
                raise ConfigError(
                    f"{env.name}.gate.approvers: there is no GitHub user {login!r}",
                    "list GitHub logins (as in github.com/LOGIN), not names or e-mail addresses",
                )
            self.seen[key] = found
        return self.seen[key]

    def _team(self, env: Environment, team: str) -> Reviewer:
        from vault_actions.integrations.github import environments

        org, _, slug = team.rpartition("/")
        org = org or (self.info.owner if self.info.organization else "")
        if not org:
            raise ConfigError(
                f"{env.name}.gate.teams: team {team!r} needs an organization, but "
                f"{self.info.owner} is a user account",
                "write teams as ORG/SLUG, or list the people in gate.approvers",
            )
        key = f"team:{org.casefold()}/{slug.casefold()}"
        if key not in self.seen:
            found = environments.team_reviewer(self.gh, org, slug)
            if found is None:
                raise ConfigError(
                    f"{env.name}.gate.teams: there is no team {slug!r} in {org} (or the "
                    "token cannot see it)",
                    "use the team's slug (as in github.com/orgs/ORG/teams/SLUG); the token "
                    "needs Members: read on the organization",
                )
            self.seen[key] = found
        return self.seen[key]


def _wanted(env: Environment, resolve: _Resolver) -> EnvironmentRules:
    """The rules vault.yml asks for: reviewers of the gate, protected branches only."""
    from vault_actions.integrations.github.environments import EnvironmentRules

    reviewers = resolve(env)
    return EnvironmentRules(
        reviewers=reviewers, prevent_self_review=bool(reviewers), branches="protected"
    )


def _limited(rules: EnvironmentRules, limits: set[Limit]) -> EnvironmentRules:
    """``rules`` without what the repository's plan refused."""
    if "required-reviewers" in limits:
        rules = replace(rules, reviewers=frozenset(), prevent_self_review=False)
    if "branch-policy" in limits:
        rules = replace(rules, branches="all")
    return rules


def _apply(
    gh: Github,
    info: RepositoryInfo,
    name: str,
    wanted: EnvironmentRules,
    current: EnvironmentRules | None,
    *,
    limits: set[Limit],
    dry_run: bool,
) -> Change:
    """Write one environment if it differs; drop a rule the plan refuses, then retry."""
    from vault_actions.integrations.github import environments

    verb = "create" if current is None else "update"
    while True:
        rules = _limited(wanted, limits)
        if rules == current:
            return Change(name, "unchanged", rules)
        if dry_run:
            return Change(name, f"would {verb}", rules)
        if environments.put_environment(gh, info.full_name, name, rules):
            return Change(name, f"{verb}d", rules)
        limits.add(_refused(info, name, rules))


def _refused(info: RepositoryInfo, name: str, rules: EnvironmentRules) -> Limit:
    """The rule to leave out after the plan refused ``rules``; GitHubError if none is left."""
    if info.private and rules.reviewers:
        return "required-reviewers"
    if info.private and rules.branches == "protected":
        return "branch-policy"
    raise GitHubError(
        f"GitHub refused the environment {name} of {info.full_name} because of the "
        "billing plan, even without protection rules",
        "environments of private repositories need GitHub Pro, Team or Enterprise; make "
        f"the repository public or upgrade the plan. Meanwhile, {FALLBACK}",
    )


def _warnings(
    gh: Github,
    cfg: Config,
    info: RepositoryInfo,
    limits: set[Limit],
    changes: list[Change],
    *,
    dry_run: bool,
) -> list[str]:
    """What the user must know: refused rules, gates nobody reviews, an unprotected branch."""
    from vault_actions.integrations.github import environments

    found: list[str] = []
    gated = [e.name for e in cfg.environments if e.gated]
    if "required-reviewers" in limits:
        found.append(
            f"{info.full_name} is private and its GitHub plan cannot require reviewers on "
            f"environments (that needs GitHub Enterprise Cloud, or a public repository): "
            f"{', '.join(gated)} got no required reviewers; {FALLBACK}."
        )
    elif dry_run and info.private and gated:
        found.append(
            f"{info.full_name} is private: GitHub enforces required reviewers on private "
            "repositories only with GitHub Enterprise Cloud; if the plan refuses them, this "
            f"command says so and {FALLBACK}."
        )
    if "branch-policy" in limits:
        found.append(
            f"{info.full_name}'s plan cannot restrict environments to protected branches "
            "(private repositories on GitHub Free): any branch may deploy."
        )
    protects = any(c.rules.branches == "protected" for c in changes)
    if protects and not environments.branch_protected(gh, info.full_name, info.default_branch):
        found.append(
            f"the default branch {info.default_branch} is not protected: environments allow "
            "deployments only from protected branches (and from every branch while no "
            f"branch is protected). Add a branch protection rule or ruleset for "
            f"{info.default_branch}."
        )
    return found
