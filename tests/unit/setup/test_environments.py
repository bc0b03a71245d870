"""`vault setup-environments`: environments as vault.yml says, against `responses` shaped like GitHub."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import responses

from tests.unit.integrations.test_github import bodies, user
from tests.unit.test_config import GOOD, write
from vault_actions import config
from vault_actions.cli.commands import environments as command
from vault_actions.cli.main import main
from vault_actions.errors import ConfigError, GitHubError
from vault_actions.integrations.github import client as gh_client
from vault_actions.setup import environments

API = "https://api.github.com:443"
REPO = f"{API}/repos/acme/shop"
ENVIRONMENTS = f"{REPO}/environments"
NAMES = ["dev", "qa", "uat", "prod", "dr"]
QA_LEAD, MANAGER, QA_TEAM, RELEASE_TEAM = 1001, 1002, 2001, 2002
PROTECTED = {"protected_branches": True, "custom_branch_policies": False}
PLAN_REFUSES_REVIEWERS = (
    "Failed to create the environment protection rule. Please ensure the billing plan "
    "supports the required reviewers protection rule."
)
PLAN_REFUSES_BRANCHES = (
    "Fail to create protected rule, please ensure billing plan include protected branch gate."
)


def doc() -> dict[str, Any]:
    """GOOD with teams: uat → qa-lead + acme's qa-leads, prod → manager, qa-lead + release-managers."""
    raw = copy.deepcopy(GOOD)
    envs = {e["name"]: e for e in raw["environments"]}
    envs["uat"]["gate"] = {"approvers": ["qa-lead"], "teams": ["qa-leads"]}
    envs["prod"]["gate"] = {"approvers": ["manager", "QA-Lead"], "teams": ["acme/release-managers"]}
    return raw


def repository(*, private: bool = False) -> dict[str, Any]:
    """GET /repos/{owner}/{repo}."""
    return {
        "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "shop", "full_name": "acme/shop",
        "owner": {**user("acme"), "id": 9919, "type": "Organization",
                  "url": "https://api.github.com/users/acme"},
        "private": private, "visibility": "private" if private else "public",
        "html_url": "https://github.com/acme/shop", "url": "https://api.github.com/repos/acme/shop",
        "default_branch": "main", "archived": False, "disabled": False,
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
    }


def team(team_id: int, slug: str) -> dict[str, Any]:
    """GET /orgs/{org}/teams/{team_slug}."""
    return {
        "id": team_id, "node_id": "MDQ6VGVhbTE=", "url": f"https://api.github.com/teams/{team_id}",
        "html_url": f"https://github.com/orgs/acme/teams/{slug}", "name": slug.replace("-", " ").title(),
        "slug": slug, "description": "", "privacy": "closed", "notification_setting": "notifications_enabled",
        "permission": "pull", "members_url": f"https://api.github.com/teams/{team_id}/members{{/member}}",
        "repositories_url": f"https://api.github.com/teams/{team_id}/repos", "parent": None,
        "members_count": 3, "repos_count": 10,
    }


def reviewer_user(login: str, user_id: int) -> dict[str, Any]:
    return {"type": "User", "reviewer": {**user(login), "id": user_id}}


def reviewer_team(slug: str, team_id: int) -> dict[str, Any]:
    return {"type": "Team", "reviewer": team(team_id, slug)}


def environment(
    name: str, reviewers: list[dict[str, Any]] | None = None, *,
    policy: dict[str, bool] | None = PROTECTED, prevent_self_review: bool = True,
) -> dict[str, Any]:
    """An environment object as GET …/environments lists it and PUT answers it."""
    rules: list[dict[str, Any]] = []
    if reviewers:
        rules.append({"id": 3755, "node_id": "MDQ6R2F0ZTM3NTU=", "prevent_self_review": prevent_self_review,
                      "type": "required_reviewers", "reviewers": reviewers})
    if policy:
        rules.append({"id": 3756, "node_id": "MDQ6R2F0ZTM3NTY=", "type": "branch_policy"})
    return {
        "id": 161088068, "node_id": "MDExOkVudmlyb25tZW50MTYxMDg4MDY4", "name": name,
        "url": f"https://api.github.com/repos/acme/shop/environments/{name}",
        "html_url": f"https://github.com/acme/shop/deployments/activity_log?environments_filter={name}",
        "created_at": "2026-11-20T10:05:20Z", "updated_at": "2026-11-20T10:05:20Z",
        "protection_rules": rules, "deployment_branch_policy": policy,
    }


UAT_REVIEWERS = [reviewer_user("qa-lead", QA_LEAD), reviewer_team("qa-leads", QA_TEAM)]
PROD_REVIEWERS = [reviewer_user("manager", MANAGER), reviewer_user("qa-lead", QA_LEAD),
                  reviewer_team("release-managers", RELEASE_TEAM)]


def configured() -> list[dict[str, Any]]:
    """The five environments exactly as setup-environments leaves them."""
    return [environment("dev"), environment("qa"), environment("uat", UAT_REVIEWERS),
            environment("prod", PROD_REVIEWERS), environment("dr")]


def put_body(reviewers: list[tuple[str, int]] | None = None, *, policy: Any = PROTECTED) -> dict[str, Any]:
    return {
        "wait_timer": 0,
        "reviewers": [{"type": t, "id": i} for t, i in reviewers or []],
        "prevent_self_review": bool(reviewers),
        "deployment_branch_policy": policy,
    }


OIDC_SUB = f"{REPO}/actions/oidc/customization/sub"
CUSTOMISED = {"use_default": False, "include_claim_keys": ["repo", "context", "job_workflow_ref"]}


def github_answers(api: responses.RequestsMock, existing: list[dict[str, Any]], *, private: bool = False,
                   protected: bool = True, scripted: tuple[str, ...] = (),
                   subject: dict[str, Any] | None = None) -> None:
    """The repository, its environments, the people and teams, its OIDC subject (already
    customised unless ``subject``); PUT answers 200 except for the ``scripted``
    environments, whose answers the test adds in order."""
    api.get(OIDC_SUB, json=subject or CUSTOMISED)
    api.get(REPO, json=repository(private=private))
    api.get(ENVIRONMENTS, json={"total_count": len(existing), "environments": existing})
    api.get(f"{API}/users/qa-lead", json={**user("qa-lead"), "id": QA_LEAD})
    api.get(f"{API}/users/QA-Lead", json={**user("qa-lead"), "id": QA_LEAD})
    api.get(f"{API}/users/manager", json={**user("manager"), "id": MANAGER})
    api.get(f"{API}/orgs/acme/teams/qa-leads", json=team(QA_TEAM, "qa-leads"))
    api.get(f"{API}/orgs/acme/teams/release-managers", json=team(RELEASE_TEAM, "release-managers"))
    api.get(f"{REPO}/branches/main", json={
        "name": "main", "commit": {"sha": "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d"},
        "protected": protected, "protection_url": "https://api.github.com/repos/acme/shop/branches/main/protection",
    })
    for name in NAMES:
        if name not in scripted:
            api.put(f"{ENVIRONMENTS}/{name}", json=environment(name))


@pytest.fixture
def vault_yml(tmp_path: Path) -> Path:
    return write(tmp_path, doc())


def setup(path: Path, *, dry_run: bool = False) -> Any:
    gh = gh_client.connect("ghp_admin", "https://api.github.com")
    return command.render(environments.setup(gh, config.load(path), "acme/shop", dry_run=dry_run))


def puts(api: responses.RequestsMock) -> dict[str, list[dict[str, Any]]]:
    return {name: bodies(api, "PUT", f"{ENVIRONMENTS}/{name}") for name in NAMES}


def writes(api: responses.RequestsMock) -> list[str]:
    return [f"{c.request.method} {c.request.url}" for c in api.calls if c.request.method != "GET"]


def test_creates_every_environment_with_the_gates_reviewers(
    api: responses.RequestsMock, vault_yml: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github_answers(api, existing=[])
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_admin")
    monkeypatch.setenv("GITHUB_API_URL", "https://api.github.com")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)

    code = main(["setup-environments", "--repo", "acme/shop", "--config", str(vault_yml), "--json"])

    assert code == 0
    assert puts(api) == {
        "dev": [put_body()],
        "qa": [put_body()],
        "uat": [put_body([("User", QA_LEAD), ("Team", QA_TEAM)])],
        "prod": [put_body([("User", MANAGER), ("User", QA_LEAD), ("Team", RELEASE_TEAM)])],
        "dr": [put_body()],
    }
    data = json.loads(capsys.readouterr().out)
    assert [(e["name"], e["action"]) for e in data["environments"]] == [(n, "created") for n in NAMES]
    assert data["environments"][3]["reviewers"] == [
        {"type": "User", "id": MANAGER, "name": "manager"},
        {"type": "User", "id": QA_LEAD, "name": "qa-lead"},
        {"type": "Team", "id": RELEASE_TEAM, "name": "acme/release-managers"},
    ]
    assert data["unsupported"] == [] and data["warnings"] == []
    calls = [c.request.url for c in api.calls]
    assert calls.count(f"{API}/users/qa-lead") == 1  # qa-lead and QA-Lead: looked up once
    assert all(c.request.headers["Authorization"] == "token ghp_admin" for c in api.calls)


def test_a_second_run_reports_unchanged_and_writes_nothing(
    api: responses.RequestsMock, vault_yml: Path
) -> None:
    github_answers(api, existing=configured())

    result = setup(vault_yml)

    assert writes(api) == []
    assert [(e["name"], e["action"]) for e in result.data["environments"]] == [(n, "unchanged") for n in NAMES]
    assert "uat      unchanged     reviewers: qa-lead, acme/qa-leads (no self-review) · deploys from protected branches" in result.text


def test_only_what_differs_is_written(api: responses.RequestsMock, vault_yml: Path) -> None:
    existing = configured()
    existing[2] = environment("uat", [reviewer_user("someone-else", 7)], prevent_self_review=False)
    existing[0] = environment("dev", policy=None)  # any branch could deploy
    github_answers(api, existing=existing)

    result = setup(vault_yml)

    assert [(e["name"], e["action"]) for e in result.data["environments"]] == [
        ("dev", "updated"), ("qa", "unchanged"), ("uat", "updated"), ("prod", "unchanged"), ("dr", "unchanged"),
    ]
    assert puts(api) == {
        "dev": [put_body()], "qa": [], "uat": [put_body([("User", QA_LEAD), ("Team", QA_TEAM)])],
        "prod": [], "dr": [],
    }


def test_dry_run_prints_the_plan_and_writes_nothing(api: responses.RequestsMock, vault_yml: Path) -> None:
    github_answers(api, existing=configured()[:2])

    result = setup(vault_yml, dry_run=True)

    assert writes(api) == []
    assert [(e["name"], e["action"]) for e in result.data["environments"]] == [
        ("dev", "unchanged"), ("qa", "unchanged"), ("uat", "would create"), ("prod", "would create"),
        ("dr", "would create"),
    ]
    assert result.text.startswith("acme/shop (public) — dry run, nothing written:")
    assert result.data["warnings"] == []


def test_dry_run_on_a_private_repository_says_what_may_be_refused(
    api: responses.RequestsMock, vault_yml: Path
) -> None:
    github_answers(api, existing=[], private=True)

    result = setup(vault_yml, dry_run=True)

    assert writes(api) == []
    [warning] = result.data["warnings"]
    assert warning.startswith("acme/shop is private: GitHub enforces required reviewers on private "
                              "repositories only with GitHub Enterprise Cloud")
    assert "docs/approval-gates.md" in warning
    assert result.text.splitlines() == [
        "acme/shop (private) — dry run, nothing written:",
        "  OIDC sub unchanged     made of repo, context, job_workflow_ref (the IAM roles pin it)",
        "  dev      would create  no reviewers · deploys from protected branches",
        "  qa       would create  no reviewers · deploys from protected branches",
        "  uat      would create  reviewers: qa-lead, acme/qa-leads (no self-review) · deploys from protected branches",
        "  prod     would create  reviewers: manager, qa-lead, acme/release-managers (no self-review) · deploys from protected branches",
        "  dr       would create  no reviewers · deploys from protected branches",
        f"⚠ {warning}",
    ]


def test_private_repository_without_required_reviewers_points_at_the_gate_workflow(
    api: responses.RequestsMock, vault_yml: Path
) -> None:
    github_answers(api, existing=[], private=True, scripted=("uat",))
    api.put(f"{ENVIRONMENTS}/uat", status=422, json={
        "message": PLAN_REFUSES_REVIEWERS,
        "documentation_url": "https://docs.github.com/rest/deployments/environments#create-or-update-an-environment",
        "status": "422",
    })
    api.put(f"{ENVIRONMENTS}/uat", json=environment("uat"))

    result = setup(vault_yml)

    assert puts(api) == {
        "dev": [put_body()], "qa": [put_body()],
        "uat": [put_body([("User", QA_LEAD), ("Team", QA_TEAM)]), put_body()],
        "prod": [put_body()],  # the plan's answer is known: not asked again
        "dr": [put_body()],
    }
    assert result.data["unsupported"] == ["required-reviewers"]
    [warning] = result.data["warnings"]
    assert warning.startswith(
        "acme/shop is private and its GitHub plan cannot require reviewers on environments "
        "(that needs GitHub Enterprise Cloud, or a public repository): uat, prod got no required reviewers;"
    )
    assert "gate workflow (.github/workflows/gate.yml" in warning
    assert "one of the gate's approvers in vault.yml" in warning and "docs/approval-gates.md" in warning
    assert f"⚠ {warning}" in result.text


def test_the_fallback_is_idempotent_too(api: responses.RequestsMock, vault_yml: Path) -> None:
    bare = [environment(n) for n in NAMES]
    github_answers(api, existing=bare, private=True, scripted=("uat",))
    api.put(f"{ENVIRONMENTS}/uat", status=422, json={"message": PLAN_REFUSES_REVIEWERS})

    result = setup(vault_yml)

    assert [e["action"] for e in result.data["environments"]] == ["unchanged"] * 5
    assert writes(api) == [f"PUT {ENVIRONMENTS}/uat"]  # the one refused attempt


def test_free_private_repository_also_loses_the_branch_policy(
    api: responses.RequestsMock, vault_yml: Path
) -> None:
    github_answers(api, existing=[], private=True, scripted=("dev", "uat"))
    api.put(f"{ENVIRONMENTS}/dev", status=422, json={"message": PLAN_REFUSES_BRANCHES})
    api.put(f"{ENVIRONMENTS}/dev", json=environment("dev", policy=None))
    api.put(f"{ENVIRONMENTS}/uat", status=422, json={"message": PLAN_REFUSES_REVIEWERS})
    api.put(f"{ENVIRONMENTS}/uat", json=environment("uat", policy=None))

    result = setup(vault_yml)

    assert puts(api)["dev"] == [put_body(), put_body(policy=None)]
    assert puts(api)["uat"] == [put_body([("User", QA_LEAD), ("Team", QA_TEAM)], policy=None),
                                put_body(policy=None)]
    assert result.data["unsupported"] == ["branch-policy", "required-reviewers"]
    assert any("cannot restrict environments to protected branches" in w for w in result.data["warnings"])
    assert f"{REPO}/branches/main" not in [c.request.url for c in api.calls]


def test_a_public_repository_refused_by_the_plan_is_an_error(
    api: responses.RequestsMock, vault_yml: Path
) -> None:
    github_answers(api, existing=[], scripted=("dev",))
    api.put(f"{ENVIRONMENTS}/dev", status=422, json={"message": PLAN_REFUSES_BRANCHES})

    with pytest.raises(GitHubError, match="refused the environment dev of acme/shop because of the billing plan"):
        setup(vault_yml)


def test_server_errors_are_retried(api: responses.RequestsMock, vault_yml: Path) -> None:
    github_answers(api, existing=configured()[:4], scripted=("dr",))
    api.replace(responses.GET, ENVIRONMENTS, status=502, json={"message": "Server Error"})
    api.add(responses.GET, ENVIRONMENTS, json={"total_count": 4, "environments": configured()[:4]})
    api.put(f"{ENVIRONMENTS}/dr", status=503, json={"message": "Service Unavailable"})
    api.put(f"{ENVIRONMENTS}/dr", json=environment("dr"))

    result = setup(vault_yml)

    assert result.data["environments"][4]["action"] == "created"
    assert len([c for c in api.calls if c.request.url.startswith(f"{ENVIRONMENTS}?")]) == 2
    assert len(puts(api)["dr"]) == 2


def test_unknown_approver_is_named(api: responses.RequestsMock, tmp_path: Path) -> None:
    raw = doc()
    raw["environments"][2]["gate"] = {"approvers": ["qa-lad"]}
    github_answers(api, existing=[])
    api.get(f"{API}/users/qa-lad", status=404, json={"message": "Not Found"})

    with pytest.raises(ConfigError, match="uat.gate.approvers: there is no GitHub user 'qa-lad'"):
        setup(write(tmp_path, raw))

    assert writes(api) == []


def test_more_than_six_reviewers_is_refused_before_any_call(
    api: responses.RequestsMock, tmp_path: Path
) -> None:
    raw = doc()
    raw["environments"][3]["gate"] = {"approvers": [f"person-{i}" for i in range(5)], "teams": ["a", "b"]}

    with pytest.raises(ConfigError, match=r"environments\[prod\].gate lists 7 approvers and teams"):
        setup(write(tmp_path, raw))

    assert len(api.calls) == 0


def test_a_token_that_is_not_an_admins_is_told_so(api: responses.RequestsMock, vault_yml: Path) -> None:
    api.get(REPO, json=repository())
    api.get(ENVIRONMENTS, status=403, json={
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/deployments/environments#list-environments",
    })

    with pytest.raises(GitHubError, match="listing the environments of acme/shop: HTTP 403") as caught:
        setup(vault_yml)

    assert "Administration: write" in str(caught.value.hint)


def test_an_unprotected_default_branch_is_warned(
    api: responses.RequestsMock, tmp_path: Path
) -> None:
    github_answers(api, existing=[], protected=False)

    result = setup(write(tmp_path, doc()))

    assert result.data["warnings"][0].startswith("the default branch main is not protected")


@pytest.mark.parametrize(("argv", "env", "message"), [
    (["--repo", "acme/shop"], {}, "no GitHub token: GITHUB_TOKEN is not set"),
    ([], {"GITHUB_TOKEN": "ghp_admin"}, "no repository given"),
    (["--repo", "acme"], {"GITHUB_TOKEN": "ghp_admin"}, "repository 'acme' is not OWNER/REPO"),
])
def test_missing_token_or_repository(
    vault_yml: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: list[str], env: dict[str, str], message: str,
) -> None:
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert main(["setup-environments", "--config", str(vault_yml), *argv]) == 2  # ConfigError

    assert f"error: {message}" in capsys.readouterr().err


def test_teams_of_a_user_account_need_an_organization(
    api: responses.RequestsMock, vault_yml: Path
) -> None:
    github_answers(api, existing=[])
    personal = repository()
    personal["owner"] = {**user("jane"), "type": "User"}
    api.replace(responses.GET, REPO, json=personal)

    with pytest.raises(ConfigError, match="uat.gate.teams: team 'qa-leads' needs an organization") as caught:
        setup(vault_yml)

    assert "ORG/SLUG" in str(caught.value.hint)
    assert not any(re.search(r"/orgs/", c.request.url) for c in api.calls)


def test_dry_run_without_a_token_plans_from_vault_yml_alone(
    vault_yml: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14, finding 4: `setup-environments --dry-run` demanded GITHUB_TOKEN."""
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)

    with responses.RequestsMock() as no_github:  # any request to GitHub would fail the test
        assert main(["setup-environments", "--config", str(vault_yml), "--repo", "acme/shop",
                     "--dry-run"]) == 0
        text = capsys.readouterr().out
        assert main(["setup-environments", "--config", str(vault_yml), "--dry-run", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert len(no_github.calls) == 0

    assert text.splitlines()[:6] == [
        "acme/shop — dry run from vault.yml alone, nothing compared or written:",
        "  dev      would set     no reviewers · deploys from protected branches",
        "  qa       would set     no reviewers · deploys from protected branches",
        "  uat      would set     reviewers: qa-lead, acme/qa-leads (no self-review) · deploys from protected branches",
        "  prod     would set     reviewers: manager, QA-Lead, acme/release-managers (no self-review) · deploys from protected branches",
        "  dr       would set     no reviewers · deploys from protected branches",
    ]
    assert text.splitlines()[6].startswith("⚠ not compared with GitHub (no GITHUB_TOKEN): which of these environments exist")
    assert "whether every approver and team exists" in text and "GITHUB_TOKEN=$(gh auth token)" in text
    assert data["compared"] is False and data["repository"] is None
    assert [e["name"] for e in data["environments"]] == NAMES
    assert data["environments"][2]["reviewers"] == [
        {"type": "User", "id": None, "name": "qa-lead"}, {"type": "Team", "id": None, "name": "ORG/qa-leads"},
    ]


def test_without_a_token_a_real_run_points_at_the_dry_run(
    vault_yml: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    assert main(["setup-environments", "--config", str(vault_yml), "--repo", "acme/shop"]) == 2  # ConfigError
    assert "or preview from vault.yml alone with --dry-run" in capsys.readouterr().err


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_oidc_subject_is_customised_for_the_roles_of_infra(
    api: responses.RequestsMock, vault_yml: Path, dry_run: bool
) -> None:
    """Finding 3: infra/vault.yaml's roles pin job_workflow_ref in ``sub``, which GitHub
    puts there only once the repository's OIDC subject is customised."""
    github_answers(api, configured(), subject={"use_default": True})
    api.put(OIDC_SUB, status=201, body="")

    result = setup(vault_yml, dry_run=dry_run)

    assert result.data["oidc_subject"] == {
        "claims": ["repo", "context", "job_workflow_ref"],
        "action": "would set" if dry_run else "set",
    }
    sent = bodies(api, "PUT", OIDC_SUB)
    assert sent == ([] if dry_run else [CUSTOMISED])
    assert "OIDC sub" in result.text and "job_workflow_ref" in result.text


def test_a_customised_subject_is_left_alone(api: responses.RequestsMock, vault_yml: Path) -> None:
    github_answers(api, configured())

    result = setup(vault_yml)

    assert result.data["oidc_subject"]["action"] == "unchanged"
    assert bodies(api, "PUT", OIDC_SUB) == []
