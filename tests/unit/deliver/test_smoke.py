"""Smoke tests against real HTTP servers on 127.0.0.1: checks, retries, deadlines, command."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import responses
import yaml

from tests.conftest import (
    GhaFiles,
    MotoServer,
    break_glass,
    free_port,
    ses_messages,
    store_manifest,
)
from vault_actions import cli, config, context
from vault_actions.config import Check, Environment, Smoke
from vault_actions.deliver import smoke
from vault_actions.errors import ConfigError
from vault_actions.promotion.journey import journey_of
from vault_actions.store.ledger import Ledger

# A route gets the number of requests it has seen (1 for the first) and the request.
Reply = tuple[int, str, str]  # status, content type, body
Route = Callable[[int, "Seen"], Reply]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Target:
    """A smoke target: a ThreadingHTTPServer whose paths answer from ``routes``."""

    url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hits(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path == path)


def json_reply(doc: Any, status: int = 200) -> Route:
    return lambda _n, _req: (status, "application/json", json.dumps(doc))


def text_reply(text: str, status: int = 200) -> Route:
    return lambda _n, _req: (status, "text/plain", text)


def handler_for(target: Target) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            request = Seen(self.command, self.path, dict(self.headers), body)
            with target.lock:
                target.seen.append(request)
                count = target.hits(self.path)
            route = target.routes.get(self.path, text_reply("not found", 404))
            status, ctype, text = route(count, request)
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_HEAD = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def target() -> Iterator[Target]:
    state = Target()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def environment(
    *checks: Check,
    base_url: str | None = None,
    command: str | None = None,
    timeout: float = 1.0,
    read_only: bool = False,
) -> Environment:
    return Environment(
        name="qa",
        region="us-east-1",
        bucket="vault",
        functions={"price-fetcher": "pf-qa"},
        read_only=read_only,
        smoke=Smoke(
            base_url=base_url,
            checks=checks,
            command=command,
            timeout_seconds=timeout,
            retry_interval_seconds=0.05,
        ),
    )


def by_name(report: smoke.SmokeReport) -> dict[str, smoke.CheckResult]:
    return {r.name: r for r in report.results}


def test_all_checks_pass(target: Target, tmp_path: Path) -> None:
    target.routes = {
        "/health": json_reply({"status": "ok", "data": {"items": [{"id": 7, "live": True}]}}),
        "/": text_reply("<h1>price-fetcher up</h1>"),
        "/echo": lambda _n, req: (201, "application/json", req.body),
    }
    env = environment(
        Check(
            path="/health",
            json={"status": "ok", "data.items.0.id": 7, "data.items.0.live": True},
        ),
        Check(path="/", name="home page", body_contains="price-fetcher up", max_latency_ms=2000),
        Check(path="/health", method="HEAD"),
        Check(
            path="/echo",
            method="POST",
            status=201,
            headers={"X-Smoke": "yes", "Content-Type": "application/json"},
            body='{"ping": 1}',
            json={"ping": 1},
        ),
        base_url=target.url + "/",
    )

    report = smoke.run(env, "1.2.3", tmp_path)

    assert report.passed, report.failures
    assert (report.env, report.version) == ("qa", "1.2.3")
    results = by_name(report)
    assert set(results) == {"GET /health", "home page", "HEAD /health", "POST /echo"}
    assert all(r.ok and r.attempts == 1 and r.reason == "" for r in report.results)
    assert results["POST /echo"].status == 201
    assert results["GET /health"].url == f"{target.url}/health"
    assert all(isinstance(r.latency_ms, int) for r in report.results)
    posted = next(s for s in target.seen if s.method == "POST")
    assert posted.headers["X-Smoke"] == "yes"
    assert posted.body == '{"ping": 1}'
    assert report.duration < 1.0


def test_target_down_fails_at_the_deadline(tmp_path: Path) -> None:
    env = environment(Check(path="/health"), base_url=f"http://127.0.0.1:{free_port()}")

    started = time.monotonic()
    report = smoke.run(env, "1.2.3", tmp_path)
    elapsed = time.monotonic() - started

    assert not report.passed
    [result] = report.results
    assert result.reason == "connection refused"
    assert result.status is None
    assert result.attempts > 2
    assert 1.0 <= elapsed < 2.5


def test_target_starting_up_passes_once_it_answers(target: Target, tmp_path: Path) -> None:
    def warming(count: int, _req: Seen) -> Reply:
        return (503, "text/plain", "starting") if count <= 3 else (200, "text/plain", "ok")

    target.routes = {"/health": warming}
    env = environment(Check(path="/health", body_contains="ok"), base_url=target.url, timeout=5)

    report = smoke.run(env, "1.2.3", tmp_path)

    assert report.passed
    [result] = report.results
    assert (result.attempts, result.status, result.reason) == (4, 200, "")
    assert target.hits("/health") == 4


def test_every_difference_is_named(target: Target, tmp_path: Path) -> None:
    def slow(_n: int, _req: Seen) -> Reply:
        time.sleep(0.15)
        return 200, "text/plain", "ok"

    target.routes = {
        "/health": json_reply({"status": "degraded", "data": {"items": []}}),
        "/missing": json_reply({"ok": 1}),
        "/html": text_reply("<html>maintenance</html>"),
        "/broken": text_reply("boom", status=503),
        "/slow": slow,
    }
    env = environment(
        Check(path="/health", json={"status": "ok"}),
        Check(path="/missing", json={"ok": True, "data.items.0.id": 7}),
        Check(path="/html", name="body", body_contains="price-fetcher"),
        Check(path="/html", name="json on html", json={"status": "ok"}),
        Check(path="/broken"),
        Check(path="/slow", max_latency_ms=50),
        Check(path="/nowhere", status=204),
        base_url=target.url,
        timeout=0.8,
    )

    report = smoke.run(env, "1.2.3", tmp_path)

    assert not report.passed
    reasons = {r.name: r.reason for r in report.results}
    assert reasons["GET /health"] == "expected json field status == 'ok', got 'degraded'"
    assert reasons["GET /missing"] == (
        "expected json field ok == True, got 1; "
        "expected json field data.items.0.id == 7, field missing"
    )
    assert reasons["body"] == (
        "expected body to contain 'price-fetcher', got '<html>maintenance</html>'"
    )
    assert reasons["json on html"].startswith("expected a JSON body, got text/plain:")
    assert reasons["GET /broken"] == "expected status 200, got 503"
    assert reasons["GET /nowhere"] == "expected status 204, got 404"
    assert "ms over the 50 ms limit" in reasons["GET /slow"]
    assert by_name(report)["GET /slow"].latency_ms >= 150  # type: ignore[operator]
    assert all(r.attempts > 1 for r in report.results), "failures are retried to the deadline"
    assert report.failures == report.results


def test_command_failure_reports_exit_code_and_output(tmp_path: Path) -> None:
    env = environment(command="echo checking prices; echo 'price is NaN' >&2; exit 3")

    report = smoke.run(env, "1.2.3", tmp_path)

    assert not report.passed
    [result] = report.results
    assert (result.method, result.status, result.attempts) == ("CMD", 3, 1)
    assert result.reason.startswith("command exited with code 3\nlast output:\n")
    assert result.reason.endswith("checking prices\nprice is NaN")


def test_command_sees_the_release_and_runs_in_the_config_folder(
    target: Target, tmp_path: Path
) -> None:
    target.routes = {"/health": text_reply("ok")}
    command = 'printf "%s\\n" "$VAULT_ENV" "$VAULT_VERSION" "$VAULT_BASE_URL" > seen.txt'
    env = environment(Check(path="/health"), command=command, base_url=target.url)

    report = smoke.run(env, "1.2.3", tmp_path)

    assert report.passed, report.failures
    assert (tmp_path / "seen.txt").read_text().splitlines() == ["qa", "1.2.3", target.url]
    assert [r.method for r in report.results] == ["GET", "CMD"]


def test_command_is_killed_at_the_deadline(tmp_path: Path) -> None:
    env = environment(command="echo waiting; sleep 30", timeout=0.5)

    started = time.monotonic()
    report = smoke.run(env, "1.2.3", tmp_path)

    assert time.monotonic() - started < 5
    [result] = report.results
    assert not result.ok
    assert result.reason.startswith("command still running at the deadline")
    assert result.reason.endswith("last output:\nwaiting")


def test_base_url_override_wins(target: Target, tmp_path: Path) -> None:
    target.routes = {"/health": text_reply("ok")}
    env = environment(Check(path="/health"), base_url="http://127.0.0.1:1")

    report = smoke.run(env, "1.2.3", tmp_path, base_url=target.url)

    assert report.passed
    assert report.results[0].url == f"{target.url}/health"


@pytest.mark.parametrize(
    ("env", "override", "message"),
    [
        (environment(Check(path="/health")), None, "has smoke checks but no base URL"),
        (environment(Check(path="/health")), "ftp://x", r"is not an http\(s\) URL"),
        (environment(), None, "has no smoke checks and no smoke command"),
    ],
)
def test_nothing_runnable_is_a_config_error(
    env: Environment, override: str | None, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        smoke.run(env, "1.2.3", tmp_path, base_url=override)


PROD_DOC: dict[str, Any] = {
    "vault": {"bucket": "my-org-artifacts-vault", "region": "us-east-1"},
    "services": [{"name": "price-fetcher"}],
    "environments": [
        {
            "name": "prod",
            "functions": {"price-fetcher": "pf-prod"},
            "smoke": {"base-url": "https://api.example.com", "checks": [{"path": "/health"}]},
        }
    ],
}


def test_read_only_environment_refuses_writes_at_validation(tmp_path: Path) -> None:
    doc = copy.deepcopy(PROD_DOC)
    doc["environments"][0]["smoke"]["checks"].append({"path": "/orders", "method": "POST"})

    with pytest.raises(ConfigError, match=r"POST is not allowed in a read-only environment"):
        config.parse(doc, tmp_path / "vault.yml")
    assert config.parse(PROD_DOC, tmp_path / "vault.yml").environment("prod").read_only


def test_read_only_environment_refuses_writes_at_run_time(target: Target, tmp_path: Path) -> None:
    env = environment(
        Check(path="/health"),
        Check(path="/orders", method="DELETE"),
        base_url=target.url,
        read_only=True,
    )

    with pytest.raises(ConfigError, match=r"read-only; refusing smoke check\(s\) DELETE /orders"):
        smoke.run(env, "1.2.3", tmp_path)
    assert target.seen == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("status", "ok"),
        ("data.items.0.id", 7),
        ("data.items.1", None),
        ("data.count", 0),
    ],
)
def test_json_field_follows_dotted_paths(path: str, expected: Any) -> None:
    doc = {"status": "ok", "data": {"items": [{"id": 7}, None], "count": 0}}
    assert smoke.json_field(doc, path) == expected


@pytest.mark.parametrize(
    "path", ["nope", "data.items.2", "data.items.x", "status.len", "data.items.-1"]
)
def test_json_field_missing(path: str) -> None:
    doc = {"status": "ok", "data": {"items": [{"id": 7}, None]}}
    assert smoke.json_field(doc, path) is smoke._MISSING


def test_json_equality_keeps_booleans_apart() -> None:
    assert smoke.json_equal(1, 1.0)
    assert smoke.json_equal(True, True)
    assert not smoke.json_equal(True, 1)
    assert not smoke.json_equal(0, False)
    assert smoke.json_equal({"a": [1]}, {"a": [1]})


def test_markdown_table_escapes_cells() -> None:
    report = smoke.SmokeReport(
        env="qa",
        version="1.2.3",
        passed=False,
        results=(
            smoke.CheckResult("GET /health", "GET", "http://x/health", True, 200, 12, 1, ""),
            smoke.CheckResult("a | b", "CMD", "", False, 1, 900, 1, "exit 1\nlast output:\nx|y"),
        ),
        duration=1.25,
    )

    text = smoke.markdown(report)

    assert text.splitlines()[0] == "### Smoke tests: v1.2.3 in qa — ❌ FAILED"
    assert "| GET /health | ✅ | 200 | 12 ms | 1 |  |" in text
    assert "| a \\| b | ❌ | 1 | 900 ms | 1 | exit 1<br>last output:<br>x\\|y |" in text
    assert json.loads(smoke.results_json(report))[1]["reason"].endswith("x|y")


# --- `vault smoke` end to end: moto ledger, real target, Slack via responses ---------------

SLACK = "https://hooks.slack.com/services/T000/B000/SMOKESECRET"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    """Slack mocked; everything else (the local smoke target) really goes over HTTP."""
    monkeypatch.setenv("SLACK_WEBHOOK_URL", SLACK)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        yield mock


def write_vault_yml(
    root: Path, bucket: str, smoke_settings: dict[str, Any] | None,
    notifications: dict[str, Any] | None = None,
) -> Path:
    qa: dict[str, Any] = {
        "name": "qa",
        "functions": {"price-fetcher": "pf-qa", "config-service": "cs-qa"},
    }
    if smoke_settings is not None:
        qa["smoke"] = {"timeout-seconds": 1, "retry-interval-seconds": 0.05, **smoke_settings}
    doc = {
        "vault": {"bucket": bucket, "region": "us-east-1"},
        "services": [{"name": "price-fetcher"}, {"name": "config-service"}],
        "environments": [
            {"name": "dev", "functions": {"price-fetcher": "pf-dev", "config-service": "cs-dev"}},
            qa,
        ],
        **({"notifications": notifications} if notifications else {}),
    }
    path = root / "vault.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False) + break_glass())
    return path


def deployed(s3: Any, bucket: str, version: str, env: str = "qa") -> Ledger:
    store_manifest(s3, bucket, version)
    ledger = Ledger(s3, bucket)
    ledger.record(version, "deployed", env, context.RunContext.from_env())
    return ledger


def smoke_cli(path: Path, *extra: str) -> int:
    return cli.main(["smoke", "--config", str(path), "--env", "qa", "--version", "v1.0.0", *extra])


def test_passing_smoke_is_recorded_summarised_and_announced(
    target: Target,
    tmp_path: Path,
    s3: Any,
    vault_bucket: str,
    gha_env: GhaFiles,
    slack: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target.routes = {"/health": json_reply({"status": "ok"})}
    check = {"path": "/health", "json": {"status": "ok"}}
    path = write_vault_yml(tmp_path, vault_bucket, {"base-url": target.url, "checks": [check]})
    ledger = deployed(s3, vault_bucket, "1.0.0")
    slack.post(SLACK, body="ok")

    assert smoke_cli(path) == 0

    last = journey_of(ledger, "1.0.0").events[-1]
    assert (last.event, last.environment, last.actor) == ("smoke_passed", "qa", "octocat")
    [recorded] = last.details["results"]
    assert (recorded["name"], recorded["ok"], recorded["status"]) == ("GET /health", True, 200)
    summary = gha_env.summary_text()
    assert "### Smoke tests: v1.0.0 in qa — ✅ passed" in summary
    assert "| check | result | status | latency | attempts | reason |" in summary
    assert "| GET /health | ✅ | 200 |" in summary
    [call] = slack.calls
    assert json.loads(call.request.body)["text"] == (
        "price-fetcher, config-service v1.0.0 is live in QA"
        "\n<https://github.com/acme/shop/actions/runs/4242|View the run>"
    )
    out = capsys.readouterr().out
    assert f"::add-mask::{SLACK}" in out
    assert "v1.0.0 passed 1 smoke check in qa" in out


def test_failing_smoke_kills_the_version_and_stops_the_pipeline(
    target: Target,
    tmp_path: Path,
    s3: Any,
    vault_bucket: str,
    gha_env: GhaFiles,
    slack: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target.routes = {"/health": text_reply("down", status=503)}
    path = write_vault_yml(
        tmp_path, vault_bucket, {"base-url": target.url, "checks": [{"path": "/health"}]}
    )
    ledger = deployed(s3, vault_bucket, "1.0.0")
    slack.post(SLACK, body="ok")
    for name, value in {
        "INPUT_ENVIRONMENT": "qa", "INPUT_VERSION": "1.0.0", "INPUT_CONFIG": str(path),
        "INPUT_BASE_URL": "",
    }.items():
        monkeypatch.setenv(name, value)

    assert cli.main(["action", "smoke"]) == 4  # SmokeFailed

    journey = journey_of(ledger, "1.0.0")
    assert journey.death is not None
    assert (journey.death.event, journey.death.environment) == ("smoke_failed", "qa")
    assert journey.death.details["results"][0]["reason"] == "expected status 200, got 503"
    outputs = gha_env.outputs()
    assert outputs["result"] == "failed"
    assert json.loads(outputs["results"])[0]["status"] == 503
    assert "| GET /health | ❌ | 503 |" in gha_env.summary_text()
    out = capsys.readouterr().out
    assert (
        "::error title=Smoke test failed::v1.0.0 failed 1 of 1 smoke check in qa: "
        "GET /health: expected status 200, got 503"
    ) in out
    assert json.loads(slack.calls[0].request.body)["text"].startswith(
        "v1.0.0 FAILED smoke tests in QA: GET /health: expected status 200, got 503 — "
        "the version is dead; release a fix"
    )
    # Dead is dead: smoking it again is refused before any request.
    hits = target.hits("/health")
    assert smoke_cli(path) == 3  # PromotionRefused
    assert "v1.0.0 is dead: smoke_failed in qa" in capsys.readouterr().out
    assert target.hits("/health") == hits


def test_slack_failure_only_warns(
    target: Target,
    tmp_path: Path,
    s3: Any,
    vault_bucket: str,
    gha_env: GhaFiles,
    slack: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target.routes = {"/health": text_reply("ok")}
    path = write_vault_yml(
        tmp_path, vault_bucket, {"base-url": target.url, "checks": [{"path": "/health"}]}
    )
    ledger = deployed(s3, vault_bucket, "1.0.0")
    slack.post(SLACK, status=410, body="channel_is_archived")

    assert smoke_cli(path) == 0

    assert journey_of(ledger, "1.0.0").passed("qa")
    out = capsys.readouterr().out
    assert "::warning title=Slack notification::Slack notification not sent: HTTP 410" in out
    assert "SMOKESECRET" not in out.replace(f"::add-mask::{SLACK}", "")


def test_base_url_override_and_command_via_cli(
    target: Target,
    tmp_path: Path,
    s3: Any,
    vault_bucket: str,
    gha_env: GhaFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target.routes = {"/health": text_reply("ok")}
    settings = {
        "base-url": "https://api.example.invalid",
        "checks": [{"path": "/health"}],
        "command": 'test "$VAULT_BASE_URL" = "$EXPECTED" && test "$VAULT_VERSION" = 1.0.0',
    }
    path = write_vault_yml(tmp_path, vault_bucket, settings)
    ledger = deployed(s3, vault_bucket, "1.0.0")

    monkeypatch.setenv("EXPECTED", target.url)

    assert smoke_cli(path, "--base-url", target.url) == 0

    last = journey_of(ledger, "1.0.0").events[-1]
    assert last.event == "smoke_passed"
    assert last.details["base_url"] == target.url
    assert [r["method"] for r in last.details["results"]] == ["GET", "CMD"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ([], "v1.0.0 has never been deployed to qa"),
        ([("1.0.0", "deployed", "dev")], "v1.0.0 has never been deployed to qa"),
        ([("1.0.0", "deployed", "qa"), ("1.0.1", "deployed", "qa")],
         "v1.0.0 is no longer live in qa (qa now runs v1.0.1)"),
        ([("1.0.0", "deployed", "qa"), ("1.0.0", "rolled_back", "qa")],
         "v1.0.0 is no longer live in qa (nothing is live in qa)"),
        ([("1.0.0", "deployed", "qa"), ("1.0.0", "rejected", "uat")],
         "v1.0.0 is dead: rejected in uat"),
    ],
)
def test_smoke_refused_unless_the_version_is_alive_and_live_there(
    setup: list[tuple[str, str, str]],
    message: str,
    target: Target,
    tmp_path: Path,
    s3: Any,
    vault_bucket: str,
    gha_env: GhaFiles,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_vault_yml(
        tmp_path, vault_bucket, {"base-url": target.url, "checks": [{"path": "/health"}]}
    )
    ledger = Ledger(s3, vault_bucket)
    for version in sorted({version for version, _, _ in setup}):
        store_manifest(s3, vault_bucket, version)
    for version, event, env in setup:
        ledger.record(version, event, env, context.RunContext.from_env())

    assert smoke_cli(path) == 3  # PromotionRefused

    assert f"::error title=Promotion refused::{message}" in capsys.readouterr().out
    assert target.seen == []
    assert [e.event for e in ledger.events("1.0.0")] == [e for v, e, _ in setup if v == "1.0.0"]


def test_environment_without_smoke_settings_is_skipped(
    tmp_path: Path, vault_bucket: str, gha_env: GhaFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_vault_yml(tmp_path, vault_bucket, None)
    monkeypatch.setenv("INPUT_ENVIRONMENT", "qa")
    monkeypatch.setenv("INPUT_VERSION", "v1.0.0")
    monkeypatch.setenv("INPUT_CONFIG", str(path))

    assert cli.main(["action", "smoke"]) == 0

    assert gha_env.outputs() == {"result": "skipped", "results": "[]"}
    assert "No smoke settings." in gha_env.summary_text()


@pytest.mark.parametrize("version", ["1.0", "v1.0.0;rm -rf /", "../1.0.0"])
def test_hostile_version_is_refused(
    version: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_vault_yml(tmp_path, "some-bucket", {"command": "true"})

    assert cli.main(["smoke", "--config", str(path), "--env", "qa", "--version", version]) == 2  # VersionError: usage

    assert f"version {version!r} is not allowed" in capsys.readouterr().err


def test_the_smoke_notice_is_emailed_too(
    target: Target,
    tmp_path: Path,
    aws_env: MotoServer,
    s3: Any,
    vault_bucket: str,
    gha_env: GhaFiles,
    slack: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Email as well as Slack: the same notice, through SES (moto holds what was sent)."""
    from vault_actions.integrations import aws

    aws.client("ses", "us-east-1").verify_email_identity(EmailAddress="releases@acme.example")
    target.routes = {"/health": text_reply("down", status=503)}
    email = {"from": "releases@acme.example", "to": ["team@acme.example"]}
    path = write_vault_yml(tmp_path, vault_bucket, {"base-url": target.url, "checks": [{"path": "/health"}]},
                           {"email": email})
    deployed(s3, vault_bucket, "1.0.0")
    slack.post(SLACK, body="ok")

    assert smoke_cli(path) == 4  # SmokeFailed

    slack_text = json.loads(slack.calls[0].request.body)["text"]
    [sent] = ses_messages(aws_env)
    assert sent["destinations"] == {"ToAddresses": ["team@acme.example"]}
    assert sent["subject"] == "v1.0.0 FAILED smoke tests in QA"
    first_line = slack_text.split("\n")[0]
    assert sent["body"].startswith(first_line + "\n\nView the run: https://github.com/acme/shop/actions/runs/4242\n")
    assert "::warning" not in capsys.readouterr().out


def test_a_failed_email_only_warns(
    target: Target,
    tmp_path: Path,
    s3: Any,
    vault_bucket: str,
    gha_env: GhaFiles,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target.routes = {"/health": text_reply("ok")}
    smtp = {"host": "127.0.0.1", "port": free_port(), "tls": "none"}  # nothing listens there
    email = {"from": "releases@acme.example", "to": ["team@acme.example"], "via": "smtp", "smtp": smtp}
    path = write_vault_yml(tmp_path, vault_bucket, {"base-url": target.url, "checks": [{"path": "/health"}]},
                           {"email": email})
    ledger = deployed(s3, vault_bucket, "1.0.0")

    assert smoke_cli(path) == 0

    assert journey_of(ledger, "1.0.0").passed("qa")
    assert ("::warning title=E-mail notification::E-mail notification not sent: "
            "ConnectionRefusedError") in capsys.readouterr().out


def test_the_smoke_command_cannot_act_as_the_job(
    target: Target, tmp_path: Path, s3: Any, vault_bucket: str, gha_env: GhaFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The team's command is the repository's code: with the job's OIDC token request, its
    AWS keys or its GitHub token it could state E's events (smoke_passed) as E's job."""
    target.routes = {"/health": text_reply("ok")}
    secrets = {"ACTIONS_RUNTIME_TOKEN": "job-secret", "GITHUB_TOKEN": "ghs_job",
               "AWS_SECRET_ACCESS_KEY": "deploy-role-key", "SLACK_WEBHOOK_TOKEN": "x"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    unset = " && ".join(f'test -z "${{{name}:-}}"' for name in secrets)
    settings = {"checks": [{"path": "/health"}], "command": f'{unset} && test -n "$HOME"'}
    path = write_vault_yml(tmp_path, vault_bucket, settings)
    ledger = deployed(s3, vault_bucket, "1.0.0")

    assert smoke_cli(path, "--base-url", target.url) == 0
    assert journey_of(ledger, "1.0.0").events[-1].event == "smoke_passed"
    # the OIDC token request (this process needs it to attest its own events)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:9/token")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "job-secret")
    kept = smoke.command_environment()
    assert not {"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", *secrets} & set(kept)
    assert kept["HOME"] == os.environ["HOME"]
