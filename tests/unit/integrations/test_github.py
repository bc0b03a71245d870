"""GitHub Deployments and gate reviews: PyGithub against `responses` shaped like the real API."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from tests.conftest import GhaFiles
from tests.unit.deliver.test_deploy import (
    Pipeline,
    alias_target,
    failing_lambda,
    lambda_error,
    make_pipeline,
    make_world,
)
from vault_actions.cli.commands import deploy as deploy_command
from vault_actions.errors import GitHubError, PromotionRefused
from vault_actions.integrations.github import client as gh_client
from vault_actions.integrations.github import deployments as gh_deployments
from vault_actions.integrations.github import gates as gh_gates
from vault_actions.promotion.journey import journey_of

API = "https://api.github.com:443"
REPO = f"{API}/repos/acme/shop"
APPROVALS = f"{REPO}/actions/runs/4242/approvals"
DEPLOYMENTS = f"{REPO}/deployments"
RUN_URL = "https://github.com/acme/shop/actions/runs/4242"


def user(login: str) -> dict[str, Any]:
    return {
        "login": login, "id": 583231, "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
        "url": f"https://api.github.com/users/{login}", "html_url": f"https://github.com/{login}",
        "type": "User", "site_admin": False,
    }


def review(state: str, login: str, environments: list[str], comment: str = "") -> dict[str, Any]:
    """One entry of GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals."""
    return {
        "state": state,
        "comment": comment,
        "environments": [
            {
                "id": 161088068 + i, "node_id": "MDExOkVudmlyb25tZW50MTYxMDg4MDY4", "name": name,
                "url": f"https://api.github.com/repos/acme/shop/environments/{name}",
                "html_url": f"https://github.com/acme/shop/deployments/activity_log?environments_filter={name}",
                "created_at": "2026-11-20T10:05:20Z", "updated_at": "2026-11-20T10:05:20Z",
            }
            for i, name in enumerate(environments)
        ],
        "user": user(login),
    }


def deployment(deployment_id: int, ref: str, environment: str) -> dict[str, Any]:
    """The 201 body of POST /repos/{owner}/{repo}/deployments."""
    url = f"https://api.github.com/repos/acme/shop/deployments/{deployment_id}"
    return {
        "url": url, "id": deployment_id, "node_id": "MDEwOkRlcGxveW1lbnQx",
        "sha": "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d", "ref": ref, "task": "deploy",
        "payload": {}, "original_environment": environment, "environment": environment,
        "description": "", "creator": user("github-actions[bot]"),
        "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:00:00Z",
        "statuses_url": f"{url}/statuses", "repository_url": "https://api.github.com/repos/acme/shop",
        "transient_environment": False, "production_environment": False,
    }


def status(deployment_id: int, state: str) -> dict[str, Any]:
    """The 201 body of POST .../deployments/{id}/statuses."""
    return {
        "url": f"https://api.github.com/repos/acme/shop/deployments/{deployment_id}/statuses/1",
        "id": 1, "node_id": "MDE2OkRlcGxveW1lbnRTdGF0dXMx", "state": state,
        "creator": user("github-actions[bot]"), "description": "", "environment": "",
        "target_url": "", "created_at": "2026-11-28T10:00:01Z", "updated_at": "2026-11-28T10:00:01Z",
        "deployment_url": f"https://api.github.com/repos/acme/shop/deployments/{deployment_id}",
        "repository_url": "https://api.github.com/repos/acme/shop",
        "environment_url": "", "log_url": "",
    }


def rate_limited() -> dict[str, Any]:
    """GitHub's primary rate-limit answer: 403, remaining 0, reset one second ahead."""
    return {
        "status": 403,
        "json": {
            "message": "API rate limit exceeded for installation ID 1234567.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        },
        "headers": {
            "x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
            "x-ratelimit-reset": str(int(time.time()) + 1), "x-ratelimit-resource": "core",
        },
    }


def gh() -> Any:
    return gh_client.connect("ghs_test", "https://api.github.com")


def bodies(api: responses.RequestsMock, method: str, url: str) -> list[dict[str, Any]]:
    return [
        json.loads(call.request.body or b"{}")
        for call in api.calls
        if call.request.method == method and call.request.url == url
    ]


# ---------------------------------------------------------------- gate reviews


def test_gate_review_finds_the_approval_of_this_environment(api: responses.RequestsMock) -> None:
    api.get(APPROVALS, json=[
        review("approved", "qa-lead", ["QA"], "qa only"),
        review("approved", "po", ["UAT", "sandbox"], "LGTM, ship it"),
    ])

    found = gh_gates.gate_review(gh(), "acme/shop", "4242", "uat")

    assert found == gh_gates.Review("approved", "po", "LGTM, ship it", ("UAT", "sandbox"))
    [call] = api.calls
    assert call.request.headers["Authorization"] == "token ghs_test"


def test_a_rejection_wins_and_pending_entries_are_ignored(api: responses.RequestsMock) -> None:
    api.get(APPROVALS, json=[
        review("approved", "qa-lead", ["uat"]),
        review("rejected", "po", ["uat"], "checkout total is wrong"),
        review("pending", "boss", ["uat"]),
    ])

    found = gh_gates.gate_review(gh(), "acme/shop", "4242", "uat")

    assert found is not None and (found.state, found.login) == ("rejected", "po")
    assert found.comment == "checkout total is wrong"


def test_no_review_of_this_environment(api: responses.RequestsMock) -> None:
    api.get(APPROVALS, json=[review("approved", "boss", ["prod"])])

    assert gh_gates.gate_review(gh(), "acme/shop", "4242", "uat") is None


def test_server_errors_are_retried(api: responses.RequestsMock) -> None:
    api.get(APPROVALS, status=502, json={"message": "Server Error"})
    api.get(APPROVALS, status=503, json={"message": "Service Unavailable"})
    api.get(APPROVALS, json=[review("approved", "po", ["uat"])])

    found = gh_gates.gate_review(gh(), "acme/shop", "4242", "uat")

    assert found is not None and found.login == "po"
    assert len(api.calls) == 3


def test_rate_limit_waits_for_the_reset(
    api: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    api.get(APPROVALS, **rate_limited())
    api.get(APPROVALS, json=[review("approved", "po", ["uat"])])
    caplog.set_level("INFO", logger="github.GithubRetry")

    found = gh_gates.gate_review(gh(), "acme/shop", "4242", "uat")

    assert found is not None and found.state == "approved"
    assert len(api.calls) == 2
    waits = [float(m) for m in re.findall(r"Setting next backoff to ([\d.]+)s", caplog.text)]
    assert waits and 1.0 <= waits[0] <= 3.0  # until x-ratelimit-reset (+1 s), not a blind retry


def test_github_down_is_a_github_error(api: responses.RequestsMock) -> None:
    api.get(APPROVALS, status=503, json={"message": "Service Unavailable"})

    with pytest.raises(GitHubError, match="GitHub could not be reached") as caught:
        gh_gates.gate_review(gh(), "acme/shop", "4242", "uat")

    assert len(api.calls) == gh_client.RETRIES + 1
    assert caught.value.hint == "check https://www.githubstatus.com and rerun the job"


def test_missing_permission_names_it(api: responses.RequestsMock) -> None:
    api.get(APPROVALS, status=403, json={
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/actions/workflow-runs",
    })

    with pytest.raises(GitHubError, match="HTTP 403: Resource not accessible by integration") as caught:
        gh_gates.gate_review(gh(), "acme/shop", "4242", "uat")

    assert "actions: read" in str(caught.value.hint)


def test_unreachable_host_is_a_github_error(api: responses.RequestsMock) -> None:
    api.get(APPROVALS, body=requests.ConnectionError("Connection refused"))

    with pytest.raises(GitHubError, match="could not be reached .*Connection refused"):
        gh_gates.gate_review(gh(), "acme/shop", "4242", "uat")


# ---------------------------------------------------------------- deployments


def test_deployment_and_statuses_are_posted(api: responses.RequestsMock) -> None:
    api.post(DEPLOYMENTS, status=201, json=deployment(17, "v1.2.3", "prod"))
    api.post(f"{DEPLOYMENTS}/17/statuses", status=201, json=status(17, "in_progress"))
    client = gh()

    started = gh_deployments.start_deployment(client, "acme/shop", tag="v1.2.3", environment="prod",
                                      version="1.2.3", production=True, log_url=RUN_URL)
    gh_deployments.set_status(client, started, "success", log_url=RUN_URL, description="live",
                      environment_url="https://shop.example.com")

    assert started == gh_deployments.Deployment(17, "https://api.github.com/repos/acme/shop/deployments/17")
    assert bodies(api, "POST", DEPLOYMENTS) == [{
        "ref": "v1.2.3", "task": "deploy", "auto_merge": False, "required_contexts": [],
        "payload": {"version": "1.2.3"}, "environment": "prod", "description": "v1.2.3 → prod",
        "transient_environment": False, "production_environment": True,
    }]
    assert bodies(api, "POST", f"{DEPLOYMENTS}/17/statuses") == [
        {"state": "in_progress", "description": "deploying v1.2.3 to prod", "log_url": RUN_URL},
        {"state": "success", "description": "live", "log_url": RUN_URL,
         "environment_url": "https://shop.example.com"},
    ]


# ---------------------------------------------------------------- the command in Actions


@pytest.fixture
def actions(
    s3: Any, vault_bucket: str, tmp_path: Path, gha_env: GhaFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> Pipeline:
    """The pipeline inside a GitHub Actions run 4242 of acme/shop, with a token."""
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    return make_pipeline(make_world(s3, vault_bucket, tmp_path))


def through_qa(pipeline: Pipeline, api: responses.RequestsMock) -> None:
    """Deploy 1.0.0 to dev and qa (GitHub deployments answered), smoke passed in both."""
    api.post(DEPLOYMENTS, status=201, json=deployment(1, "v1.0.0", "dev"))
    api.post(f"{DEPLOYMENTS}/1/statuses", status=201, json=status(1, "success"))
    for env in ("dev", "qa"):
        pipeline.deploy(env)
        pipeline.passed(env)
    api.reset()


def test_gated_deploy_records_the_runs_approval_and_the_deployment(
    actions: Pipeline, api: responses.RequestsMock
) -> None:
    through_qa(actions, api)
    api.get(APPROVALS, json=[review("approved", "po", ["uat"], "UAT sign-off")])
    api.post(DEPLOYMENTS, status=201, json=deployment(7, "v1.0.0", "uat"))
    api.post(f"{DEPLOYMENTS}/7/statuses", status=201, json=status(7, "success"))

    result = actions.deploy("uat")

    assert result.ok
    approved = journey_of(actions.ledger, "1.0.0").last("approved", "uat")
    assert approved is not None
    assert (approved.who, approved.reason, approved.actor) == ("po", "UAT sign-off", "octocat")
    assert approved.details["run_id"] == "4242"
    assert approved.run_url == RUN_URL
    [created] = bodies(api, "POST", DEPLOYMENTS)
    assert (created["ref"], created["environment"], created["payload"]) == (
        "v1.0.0", "uat", {"version": "1.0.0"},
    )
    assert created["production_environment"] is False
    assert bodies(api, "POST", f"{DEPLOYMENTS}/7/statuses") == [
        {"state": "in_progress", "description": "deploying v1.0.0 to uat", "log_url": RUN_URL},
        {"state": "success", "description": "v1.0.0 live in uat", "log_url": RUN_URL,
         "environment_url": "https://uat.example.com"},
    ]

    actions.deploy("uat")  # a re-run of the job: the same review is not recorded twice

    assert [e.event for e in actions.ledger.events("1.0.0")].count("approved") == 1


def test_an_approval_by_someone_who_made_the_release_does_not_count(
    actions: Pipeline, api: responses.RequestsMock
) -> None:
    """Finding 9, GitHub's gate: po may approve uat, but po committed to v1.1.0."""
    actions.world.release("1.1.0", ["alpha", "beta"], people=("PO", "po@example.com"))
    api.post(DEPLOYMENTS, status=201, json=deployment(1, "v1.1.0", "dev"))
    api.post(f"{DEPLOYMENTS}/1/statuses", status=201, json=status(1, "success"))
    for env in ("dev", "qa"):
        actions.deploy(env, "1.1.0")
        actions.passed(env, "1.1.0")
    api.reset()
    api.get(APPROVALS, json=[review("approved", "po", ["uat"], "looks good to me")])

    with pytest.raises(PromotionRefused, match=re.escape(
        "v1.1.0 was approved for uat only by po, who authored or committed commits of the "
        "release: the approver must be independent of the change (separation of duties)"
    )) as caught:
        actions.deploy("uat", "1.1.0")

    assert "gate.allow-author-approval: true" in str(caught.value.hint)
    assert bodies(api, "POST", DEPLOYMENTS) == []
    assert all(alias_target(actions.world.lambda_, f) is None for f in actions.functions("uat"))

    opted_out = actions.path.read_text().replace(
        "gate: {approvers: [qa-lead, po]}", "gate: {approvers: [qa-lead, po], allow-author-approval: true}"
    )
    actions.path.write_text(opted_out)
    api.post(DEPLOYMENTS, status=201, json=deployment(7, "v1.1.0", "uat"))
    api.post(f"{DEPLOYMENTS}/7/statuses", status=201, json=status(7, "success"))
    assert actions.deploy("uat", "1.1.0").ok


def test_a_rejected_review_kills_the_version(
    actions: Pipeline, api: responses.RequestsMock
) -> None:
    through_qa(actions, api)
    api.get(APPROVALS, json=[review("rejected", "po", ["uat"], "wrong prices")])

    # this job has no id-token permission: its events are local, flagged, allowed by break-glass
    with pytest.raises(PromotionRefused, match=r"is dead: rejected in uat .* by po \(local\) \(wrong prices\)"):
        actions.deploy("uat")

    assert bodies(api, "POST", DEPLOYMENTS) == []
    assert all(alias_target(actions.world.lambda_, f) is None for f in actions.functions("uat"))


def test_no_approval_in_the_run_is_refused(actions: Pipeline, api: responses.RequestsMock) -> None:
    through_qa(actions, api)
    api.get(APPROVALS, json=[])

    with pytest.raises(PromotionRefused, match="has not been approved for uat, which is gated"):
        actions.deploy("uat")

    assert bodies(api, "POST", DEPLOYMENTS) == []


def test_prod_fails_closed_when_github_is_down(
    actions: Pipeline, api: responses.RequestsMock
) -> None:
    api.get(APPROVALS, status=503, json={"message": "Service Unavailable"})

    with pytest.raises(GitHubError) as caught:
        actions.deploy("prod")

    assert "no deploy to gated environment 'prod' without a recorded approval" in str(caught.value)
    assert "let an approver run the gate workflow (vault-gate.yml) for prod v1.0.0" in str(caught.value.hint)
    assert all(alias_target(actions.world.lambda_, f) is None for f in actions.functions("prod"))
    assert actions.events() == []


def test_gated_deploy_needs_its_github_deployment(
    actions: Pipeline, api: responses.RequestsMock
) -> None:
    through_qa(actions, api)
    api.get(APPROVALS, json=[review("approved", "po", ["uat"])])
    api.post(DEPLOYMENTS, status=503, json={"message": "Service Unavailable"})

    with pytest.raises(GitHubError, match="creating a deployment of v1.0.0 to uat"):
        actions.deploy("uat")

    assert all(alias_target(actions.world.lambda_, f) is None for f in actions.functions("uat"))


def test_dev_warns_and_deploys_when_github_is_down(
    actions: Pipeline, api: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(DEPLOYMENTS, status=503, json={"message": "Service Unavailable"})

    result = actions.deploy("dev")

    assert result.ok
    assert all(alias_target(actions.world.lambda_, f) == "1" for f in actions.functions("dev"))
    out = capsys.readouterr().out
    assert "::warning title=GitHub API error::creating a deployment of v1.0.0 to dev" in out
    assert "deploying without a GitHub deployment" in out


def test_a_failed_deploy_posts_a_failure_status(
    actions: Pipeline, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.post(DEPLOYMENTS, status=201, json=deployment(9, "v1.0.0", "dev"))
    api.post(f"{DEPLOYMENTS}/9/statuses", status=201, json=status(9, "failure"))
    beta = actions.cfg.environment("dev").functions["beta"]
    failing_lambda(monkeypatch, beta, lambda_error(400, "InvalidParameterValueException", "bad zip"))

    result = actions.deploy("dev")

    assert not result.ok
    final = bodies(api, "POST", f"{DEPLOYMENTS}/9/statuses")[-1]
    assert final == {
        "state": "failure", "log_url": RUN_URL,
        "description": "v1.0.0 failed in dev (beta); previous release restored",
    }


def test_gated_deploy_in_actions_needs_a_token(
    actions: Pipeline, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")

    with pytest.raises(GitHubError, match="no GitHub token: the approval of the 'uat' gate"):
        deploy_command.deploy(str(actions.path), "1.0.0", "uat", 2)

    assert len(api.calls) == 0
