"""``vault demo``: the manual's Release Graveyard, played for real on an embedded AWS.

A temporary git repository holds two sample services (``demo/services/``) and a vault.yml
whose smoke checks hit one ``FunctionServer`` per environment. Three commits make three
releases through the use cases the ``vault`` commands call (build.publish, promotion.gates,
deliver.release, deliver.smoke_release, report), each step printed as its ``vault`` command:

1. ``feat:`` → v1.0.0 passes DEV (its checks only ask ``/health``) and dies in QA, whose
   checks find the price quoted as a string;
2. ``fix:`` → v1.0.1 passes DEV and QA; in UAT the product owner finds EU listings quoted
   in USD and rejects it;
3. ``fix:`` → v1.0.2 passes every gate, goes live in PROD and is synced to DR.

Gate decisions are asked on the terminal (``--yes`` takes the story's answers), and the
story follows them: a release that dies makes way for the next commit, and the first
release live in PROD ends the story.

One piece (over 400 lines): the story's script (attempts, decisions) and its narration
are one sequence; the repository, buckets and servers it plays on are set up here too.

One piece (over 400 lines): the story is one script whose steps share the embedded AWS,
the repository and the console; split, the plot would be spread over files.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shlex
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

from vault_actions.build import publish
from vault_actions.config import load
from vault_actions.context import RunContext
from vault_actions.deliver import release
from vault_actions.deliver.lambdas import DEFAULT_PARALLEL, DeployResult
from vault_actions.deliver.rollout import RolloutResult
from vault_actions.deliver.smoke_release import check_passed, smoke_release
from vault_actions.errors import ConfigError, SmokeFailed, VaultActionsError
from vault_actions.integrations import aws, git
from vault_actions.promotion import gates
from vault_actions.promotion.journey import overview
from vault_actions.report import graveyard, status
from vault_actions.setup import doctor
from vault_actions.store.ledger import EVENTS, Ledger
from vault_actions.store.vault import Vault

log = logging.getLogger(__name__)

REGION = "us-east-1"
DR_REGION = "us-west-2"
VAULT_BUCKET = "vault-demo-artifacts"
DR_BUCKET = "vault-demo-artifacts-dr"
ROLE = "vault-demo-lambda"
RUNTIME = "python3.12"
FUNCTION_TIMEOUT = 10
SERVICES = {"price-fetcher": "price_fetcher.handler", "config-service": "config_service.handler"}
PROMOTION = ("dev", "qa", "uat", "prod")
DR = "dr"
QA_LEAD, MANAGER, PRODUCT_OWNER = "qa-lead", "manager", "product-owner"
DEVELOPER = ("Dana Developer", "dana@example.com")
SMOKE_TIMEOUT_SECONDS = 2
SMOKE_RETRY_SECONDS = 0.5
PO_REQUEST = "/price-fetcher/price?symbol=SAP"
PROD_ALARM = "prod-5xx"
CANARY_PERCENT = 10
CANARY_POLL_SECONDS = 0.25
BAR_WIDTH = 24
SWEEP = "████"  # the block that sweeps a bar of unknown length
GRAVEYARD_FILE = "graveyard.md"
GRAVEYARD_TEXT_FILE = "graveyard.txt"
RETENTION_DAYS = 365
BUILD_SCRIPT = (
    "import json, os, shutil; shutil.rmtree('dist', ignore_errors=True); "
    "shutil.copytree('src', 'dist'); "
    "open('dist/version.json', 'w').write(json.dumps({'version': os.environ['VAULT_VERSION']}))"
)


@dataclass(frozen=True)
class Attempt:
    """One commit of the story: its message, its change, and what the product owner says."""

    message: str
    patch: str | None
    intro: str
    po_rejects: str | None = None


STORY = (
    Attempt(
        "feat: price quotes for US and EU listings; stage settings",
        None,
        "Dana merges the first price-fetcher and config-service. DEV's smoke checks only "
        "ask /health; QA's also check a quote: ACME must cost the JSON number 12.34 USD.",
    ),
    Attempt(
        "fix: quote prices as JSON numbers, not strings",
        "1-price-as-number.patch",
        "QA's smoke test caught v1.0.0 quoting \"12.34\" (a string). Nobody patches v1.0.0: "
        "Dana fixes the code and the fix ships as a new version.",
        po_rejects="SAP trades on XETRA in euros, but its quote says USD: "
        "EU listings must be quoted in EUR",
    ),
    Attempt(
        "fix: quote EU listings in their exchange's currency",
        "2-eu-listings-in-eur.patch",
        "The product owner rejected v1.0.1 in UAT. Dana quotes each listing in the "
        "currency of its exchange.",
    ),
)
# After a release is live: a canary that trips PROD's alarm and rolls itself back.
CANARY = Attempt(
    "feat: quote prices with the exchange's timestamp",
    None,
    "v1.0.2 is live. Dana ships a small feature; PROD takes new releases as a 10% canary "
    f"watched by the CloudWatch alarm {PROD_ALARM}.",
)


def function_name(service: str, environment: str) -> str:
    """The demo's Lambda function of ``service`` in ``environment``."""
    return f"{service}-{environment}"


def functions_of(environment: str) -> dict[str, str]:
    """service → function name for one environment."""
    return {service: function_name(service, environment) for service in SERVICES}


# ---------------------------------------------------------------- terminal


@dataclass(frozen=True)
class Decision:
    """A gate decision: approved, or rejected with a reason."""

    approved: bool
    reason: str | None = None


class Console:
    """Progress on ``stream`` (stderr): phase headers, ✅/❌ lines, bars, and questions."""

    def __init__(
        self,
        stream: TextIO,
        *,
        assume_yes: bool,
        ask: Callable[[], str] = input,
        animate: bool | None = None,
    ) -> None:
        self.stream = stream
        self.assume_yes = assume_yes
        self._ask = ask
        self.animate = stream.isatty() if animate is None else animate

    def write(self, text: str = "") -> None:
        """One line."""
        self.stream.write(text + "\n")
        self.stream.flush()

    def phase(self, title: str) -> None:
        """A phase header."""
        self.write()
        self.write(f"━━ {title}")

    def ok(self, text: str) -> None:
        """A success line."""
        self.write(f"  ✅ {text}")

    def fail(self, text: str) -> None:
        """A failure line."""
        self.write(f"  ❌ {text}")

    def note(self, text: str) -> None:
        """An indented remark."""
        self.write(f"  {text}")

    @contextlib.contextmanager
    def progress(self, label: str, total: int | None = None) -> Iterator[Callable[[], None]]:
        """A text progress bar while the block runs (only on a terminal).

        With ``total`` the bar fills as the yielded ``advance()`` is called; without it a
        block sweeps the bar. The bar is erased at the end, for the ✅/❌ line.
        """
        done = [0]
        lock = threading.Lock()

        def advance() -> None:
            with lock:
                done[0] += 1

        if not self.animate:
            yield advance
            return
        stop = threading.Event()
        started = time.monotonic()

        def draw() -> None:
            tick = 0
            while not stop.wait(0.1):
                tick += 1
                self.stream.write(f"\r\033[K  ⏳ {label} {_bar(tick, done[0], total)} "
                                  f"{time.monotonic() - started:4.1f}s")
                self.stream.flush()

        painter = threading.Thread(target=draw, daemon=True)
        painter.start()
        try:
            yield advance
        finally:
            stop.set()
            painter.join()
            self.stream.write("\r\033[K")
            self.stream.flush()

    def decide(self, who: str, question: str, *, approve: bool, reason: str) -> Decision:
        """Ask ``who`` to approve or reject; ``--yes`` takes the story's answer.

        ``approve`` and ``reason`` are the story's answer, and the defaults on Enter.
        """
        if self.assume_yes:
            verdict = "approves" if approve else f"rejects: {reason}"
            self.write(f"  🤖 {who} {verdict} (--yes)")
            return Decision(approve, None if approve else reason)
        default = "approve" if approve else "reject"
        while True:
            answer = self.ask(f"  ❓ {question} [a]pprove / [r]eject (Enter: {default}): ")
            choice = answer.strip().lower() or default[0]
            if choice in ("a", "approve", "y", "yes"):
                return Decision(True)
            if choice in ("r", "reject", "n", "no"):
                typed = self.ask(f"     why? (Enter: {reason}): ").strip()
                return Decision(False, typed or reason)
            self.write("     answer a or r")

    def ask(self, prompt: str) -> str:
        """Prompt on the stream and read one line."""
        self.stream.write(prompt)
        self.stream.flush()
        try:
            return self._ask()
        except EOFError:
            raise ConfigError(
                "stdin closed while the demo waited for a gate decision",
                "run it in a terminal, or pass --yes to play the story without asking",
            ) from None


def _bar(tick: int, done: int, total: int | None) -> str:
    if total:
        filled = round(BAR_WIDTH * min(done, total) / total)
        return f"[{'█' * filled}{'░' * (BAR_WIDTH - filled)}] {done}/{total}"
    room = BAR_WIDTH - len(SWEEP)
    step = tick % (2 * room)
    start = step if step < room else 2 * room - step
    return f"[{'░' * start}{SWEEP}{'░' * (room - start)}]"


# ---------------------------------------------------------------- embedded AWS


@dataclass(frozen=True)
class Clients:
    """The boto3 clients the demo provisions with (built by commands/demo.py)."""

    s3: Any
    s3_dr: Any
    iam: Any
    lambdas: Mapping[str, Any]  # region → Lambda client
    cloudwatch: Any = None  # PROD's alarm (us-east-1)


def environment_region(environment: str) -> str:
    """us-west-2 for DR, us-east-1 for the rest."""
    return DR_REGION if environment == DR else REGION


def bucket_policy(bucket: str) -> dict[str, Any]:
    """infra/vault.yaml's DenyObjectDeletes, which moto enforces as AWS does.

    Its statements with conditions (put-once, TLS only) are left out: moto applies a
    policy's conditions as if they always matched, so they would refuse every write and
    every request; vault doctor reports them as not checkable on the embedded AWS.
    """
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyObjectDeletes", "Effect": "Deny", "Principal": "*",
         "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
         "Resource": f"arn:aws:s3:::{bucket}/*"},
    ]}


def protect(s3: Any, bucket: str) -> None:
    """What infra/vault.yaml does to a bucket: versioning, object lock with a default
    retention, the public access block, default encryption and no deletes."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": RETENTION_DAYS}},
    })
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
    })
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}},
    ]})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy(bucket)))


def provision(clients: Clients, console: Console) -> None:
    """The vault and DR buckets (protected like infra/vault.yaml), a role, every function."""
    for s3, bucket, region in ((clients.s3, VAULT_BUCKET, REGION),
                               (clients.s3_dr, DR_BUCKET, DR_REGION)):
        kwargs: dict[str, Any] = {"Bucket": bucket, "ObjectLockEnabledForBucket": True}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        protect(s3, bucket)
        console.ok(f"bucket s3://{bucket} in {region}: versioning, object lock "
                   f"({RETENTION_DAYS} days), private, encrypted, no deletes")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }]}
    role = clients.iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    placeholder = _placeholder_zip()
    jobs = [(env, service) for env in (*PROMOTION, DR) for service in SERVICES]
    with console.progress("creating Lambda functions", len(jobs)) as advance:

        def create(job: tuple[str, str]) -> None:
            env, service = job
            clients.lambdas[environment_region(env)].create_function(
                FunctionName=function_name(service, env), Runtime=RUNTIME,
                Role=role["Role"]["Arn"], Handler=SERVICES[service],
                Code={"ZipFile": placeholder}, Timeout=FUNCTION_TIMEOUT,
                Environment={"Variables": {"STAGE": env}},
                Description=f"{service} in {env} (vault demo)",
            )
            advance()

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(create, jobs))
    console.ok(f"{len(jobs)} Lambda functions: {', '.join(PROMOTION)} in {REGION}, "
               f"{DR} in {DR_REGION} (placeholder code, no alias yet)")
    if clients.cloudwatch is not None:
        clients.cloudwatch.put_metric_alarm(
            AlarmName=PROD_ALARM, Namespace="AWS/Lambda", MetricName="Errors",
            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold")
        clients.cloudwatch.set_alarm_state(AlarmName=PROD_ALARM, StateValue="OK",
                                           StateReason="no errors")
        console.ok(f"CloudWatch alarm {PROD_ALARM} (PROD's Lambda errors): OK")


def _placeholder_zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("PLACEHOLDER.txt", "no release deployed yet\n")
    return buffer.getvalue()


# ---------------------------------------------------------------- repository


def _copy_tree(source: Traversable, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name == "__pycache__":
            continue
        if item.is_dir():
            _copy_tree(item, dest / item.name)
        else:
            (dest / item.name).write_bytes(item.read_bytes())


def _sources() -> Traversable:
    return resources.files("vault_actions.demo") / "services"


def smoke_settings(environment: str, base_url: str) -> dict[str, Any]:
    """The smoke checks of one environment: DEV and DR ask /health, the others more."""
    checks: list[dict[str, Any]] = [
        {"name": f"{service} health", "path": f"/{service}/health", "json": {"status": "ok"}}
        for service in SERVICES
    ]
    if environment not in ("dev", DR):
        checks.append({
            "name": "quote ACME", "path": "/price-fetcher/price?symbol=ACME",
            "json": {"symbol": "ACME", "price": 12.34, "currency": "USD"},
        })
    if environment in ("qa", "uat"):
        checks.append({"name": "stage settings", "path": "/config-service/config",
                       "json": {"stage": environment}})
    return {
        "base-url": base_url,
        "timeout-seconds": SMOKE_TIMEOUT_SECONDS,
        "retry-interval-seconds": SMOKE_RETRY_SECONDS,
        "checks": checks,
    }


def config_document(urls: Mapping[str, str]) -> dict[str, Any]:
    """vault.yml as data; ``urls`` maps environment → its FunctionServer's URL."""
    build = shlex.join([sys.executable, "-c", BUILD_SCRIPT])
    environments: list[dict[str, Any]] = []
    for name in PROMOTION:
        env: dict[str, Any] = {"name": name, "functions": functions_of(name)}
        if name == "uat":
            env["gate"] = {"approvers": [QA_LEAD]}
        if name == "prod":
            env["gate"] = {"approvers": [MANAGER]}
            env["read-only"] = True
            env["rollout"] = {"strategy": "canary", "percent": CANARY_PERCENT,
                              "bake-minutes": 1, "poll-seconds": CANARY_POLL_SECONDS,
                              "alarms": [PROD_ALARM]}
        env["smoke"] = smoke_settings(name, urls[name])
        environments.append(env)
    environments.append({
        "name": DR, "region": DR_REGION, "bucket": DR_BUCKET, "mirror-of": "prod",
        "functions": functions_of(DR), "smoke": smoke_settings(DR, urls[DR]),
    })
    return {
        # The embedded AWS cannot hold the conditional put-once statement (doctor reports
        # it as not checkable), so deploys would refuse the bucket: the demo vault says so.
        "vault": {"bucket": VAULT_BUCKET, "region": REGION, "protected": False},
        "services": [
            {"name": service, "path": f"services/{service}", "build": build}
            for service in SERVICES
        ],
        "environments": environments,
        "notifications": {"slack-webhook-env": "VAULT_DEMO_SLACK_WEBHOOK_URL"},
        # Break-glass: the demo runs outside GitHub Actions, so no event carries an OIDC
        # token; each one records the AWS identity that wrote it and is flagged local.
        "ledger": {"allow-local": [*EVENTS, "summary"]},
    }


def create_repository(repo: Path, urls: Mapping[str, str]) -> Path:
    """A git repository with the services' first sources and vault.yml (not committed)."""
    import yaml

    repo.mkdir(parents=True)
    git.run(["init", "--quiet", "--initial-branch=main"], repo)
    name, email = DEVELOPER
    for key, value in (("user.name", name), ("user.email", email), ("commit.gpgsign", "false"),
                       ("tag.gpgsign", "false"), ("core.hooksPath", os.devnull)):
        git.run(["config", key, value], repo)
    for service in SERVICES:
        _copy_tree(_sources() / service, repo / "services" / service)
    (repo / ".gitignore").write_text("dist/\n")
    path = repo / "vault.yml"
    header = "# Written by `vault demo`: the smoke base URLs are the demo's function servers.\n"
    path.write_text(header + yaml.safe_dump(config_document(urls), sort_keys=False))
    return path


def commit(repo: Path, attempt: Attempt) -> str:
    """Apply the attempt's fix (if any) and commit everything; the short sha."""
    if attempt.patch is not None:
        with resources.as_file(_sources() / "fixes" / attempt.patch) as patch:
            git.run(["apply", str(patch)], repo)
    git.run(["add", "--all"], repo)
    git.run(["commit", "--quiet", "--allow-empty", "--message", attempt.message], repo)
    return git.head_sha(repo)[:7]


T = TypeVar("T")

# ---------------------------------------------------------------- the story


@dataclass
class Fates:
    """How each release of the story ended: version → outcome text."""

    outcomes: dict[str, str] = field(default_factory=dict)
    live: str | None = None


class Story:
    """Plays the story with the use cases behind the ``vault`` commands against ``config``.

    Each step prints the equivalent ``vault`` command, then calls its use case directly.
    """

    def __init__(
        self, console: Console, config: Path, urls: Mapping[str, str], *, verbose: bool,
        cloudwatch: Any = None,
    ) -> None:
        self.console = console
        self.cloudwatch = cloudwatch
        self.config = config
        self.repo = config.parent
        self.urls = urls
        self.verbose = verbose
        self.fates = Fates()
        self.cfg = load(config)
        self.ctx = RunContext.from_env()
        self.people: dict[str, dict[str, str]] = {}

    @contextlib.contextmanager
    def as_person(self, name: str) -> Iterator[None]:
        """Act as ``name``'s own IAM user of the embedded AWS (created on first use): a
        decision made outside Actions is recorded under the caller's AWS identity."""
        if name not in self.people:
            iam = aws.client("iam", REGION)
            iam.create_user(UserName=name)
            key = iam.create_access_key(UserName=name)["AccessKey"]
            self.people[name] = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                                 "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        saved = {k: os.environ.get(k) for k in (*self.people[name], "AWS_SESSION_TOKEN")}
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(self.people[name])
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def step(self, command: str, call: Callable[[], T]) -> T:
        """Run one use case as ``vault <command>`` would; on failure the demo stops."""
        self.console.write(f"  $ vault {command}")
        try:
            return call()
        except VaultActionsError as exc:
            self.stop(command, exc)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            known = aws.translate(exc)
            if known is None:
                raise
            self.stop(command, known)

    def stop(self, command: str, exc: VaultActionsError) -> NoReturn:
        """Say what failed and end the story (VaultActionsError)."""
        self.console.fail(exc.message)
        raise VaultActionsError(
            f"the demo stopped: `vault {command}` failed: {exc.message}",
            f"rerun with -v for the full logs; the repository is {self.repo}",
        )

    def play(self) -> Fates:
        """Every attempt until a release is live in PROD (then synced to DR)."""
        for number, attempt in enumerate(STORY, 1):
            self.console.phase(f"🗓️  Attempt {number}: {attempt.message}")
            self.console.note(attempt.intro)
            sha = commit(self.repo, attempt)
            self.console.ok(f"commit {sha} on main: {attempt.message}")
            version = self.build()
            outcome = self.promote(version, attempt)
            self.fates.outcomes[version] = outcome
            if outcome == "live":
                self.fates.live = version
                self.sync_dr(version)
                if self.cloudwatch is not None:
                    self.canary(len(STORY) + 1)
                return self.fates
            self.console.write(f"  🪦 v{version} {outcome}: it never deploys again. "
                               "Fail forward: the next fix ships as a new version.")
        self.console.write("  No release reached PROD: every attempt was stopped.")
        return self.fates

    def build(self) -> str:
        """``vault build``: the Factory; the version it released."""
        with self.console.progress("building, zipping, tagging, uploading"):
            outcome = self.step("build", lambda: publish.build(
                self.cfg, aws.client("s3", self.cfg.vault.region), self.ctx,
                override=None, push=False, token=None,
            ))
        if outcome.manifest is None:
            self.stop("build", VaultActionsError("nothing to release"))
        version = str(outcome.manifest.version)
        sizes = ", ".join(f"{a.service} {a.size:,} B" for a in outcome.manifest.artifacts)
        self.console.ok(f"v{version} tagged and locked in the vault ({sizes})")
        return version

    def promote(self, version: str, attempt: Attempt) -> str:
        """DEV → QA → UAT → PROD; 'live' or how the release died."""
        for env in PROMOTION:
            if env in ("uat", "prod"):
                died = self.gate(env, version)
                if died:
                    return died
            self.deploy(env, version)
            if not self.smoke(env, version):
                return f"died in {env.upper()} (smoke_failed)"
            if env == "uat":
                died = self.review(version, attempt)
                if died:
                    return died
        return "live"

    def gate(self, env: str, version: str) -> str | None:
        """The approver of ``env``'s gate decides; how the release died, or None."""
        approver = QA_LEAD if env == "uat" else MANAGER
        self.console.write(f"  🛑 {env.upper()} gate: waiting for {approver}")
        decision = self.console.decide(
            approver, f"{approver}: deploy v{version} to {env.upper()}?",
            approve=True, reason=f"not ready for {env.upper()}",
        )
        return self.decide(env, version, approver, decision)

    def review(self, version: str, attempt: Attempt) -> str | None:
        """The product owner tries the release in UAT; how it died, or None."""
        body = _fetch(self.urls["uat"] + PO_REQUEST)
        self.console.write(f"  👓 {PRODUCT_OWNER} tries GET {PO_REQUEST} in UAT: {body}")
        decision = self.console.decide(
            PRODUCT_OWNER, f"{PRODUCT_OWNER}: accept v{version} in UAT?",
            approve=attempt.po_rejects is None,
            reason=attempt.po_rejects or "the feature does not work as specified",
        )
        if decision.approved:
            self.console.ok(f"{PRODUCT_OWNER} accepts v{version} in UAT")
            return None
        return self.decide("uat", version, PRODUCT_OWNER, decision)

    def decide(self, env: str, version: str, who: str, decision: Decision) -> str | None:
        """``vault approve`` or ``vault reject``; how the release died, or None."""
        reason = None if decision.approved else (decision.reason or "rejected")
        verb = "approve" if decision.approved else "reject"
        command = f"{verb} --env {env} --version {version}"
        with self.as_person(who):  # the decision is recorded under who's own AWS identity
            self.step(command + (f" --reason {shlex.quote(reason)}" if reason else ""),
                      lambda: gates.decide(
                          self.cfg, self.cfg.environment(env), version,
                          approve=decision.approved, reason=reason, vault=self.vault(),
                          ledger=self.ledger(), ctx=self.ctx,
                      ))
        if decision.approved:
            self.console.ok(f"approved for {env.upper()} by {who} (in the ledger)")
            return None
        self.console.fail(f"rejected in {env.upper()} by {who}: {reason}")
        return f"rejected in {env.upper()} by {who}"

    def deploy(self, env: str, version: str) -> None:
        """``vault deploy``: the exact vault bytes to the environment's aliases."""
        with self.console.progress(f"deploying v{version} to {env.upper()}"):
            result = self.step(f"deploy --env {env} --version {version}", lambda: self.delivered(
                release.deploy(self.cfg, self.cfg.environment(env), version, clients=aws.client,
                               token="", ctx=self.ctx, parallel=DEFAULT_PARALLEL)))
        targets = ", ".join(
            f"{s.function}:{s.alias} → {s.function_version}" for s in result.services
        )
        self.console.ok(f"v{version} deployed to {env.upper()}: {targets}")

    def smoke(self, env: str, version: str) -> bool:
        """``vault smoke``: True when it passed (the ledger says either way)."""
        report = self.step(f"smoke --env {env} --version {version}", lambda: smoke_release(
            self.cfg, self.cfg.environment(env), version, ledger=self.ledger(), ctx=self.ctx,
            base_url=None,
        ))
        try:
            check_passed(report)
        except SmokeFailed as exc:
            self.console.fail(f"smoke FAILED in {env.upper()}: {exc.message}")
            return False
        names = ", ".join(r.name for r in report.results)
        self.console.ok(f"smoke passed in {env.upper()}: {len(report.results)} checks ({names})")
        return True

    def canary(self, number: int) -> None:
        """A release whose PROD canary trips the alarm: every alias goes back by itself
        while the release before keeps serving."""
        self.console.phase(f"🗓️  Attempt {number}: {CANARY.message}")
        self.console.note(CANARY.intro)
        self.console.ok(f"commit {commit(self.repo, CANARY)} on main: {CANARY.message}")
        version = self.build()
        for env in PROMOTION[:-1]:
            if env == "uat" and self.gate(env, version):
                return
            self.deploy(env, version)
            if not self.smoke(env, version):
                return
        if self.gate("prod", version):
            return
        trip = threading.Thread(target=self._trip_alarm, daemon=True)
        trip.start()
        self.console.write(f"  $ vault deploy --env prod --version {version}")
        with self.console.progress(f"canary: {CANARY_PERCENT}% of PROD on v{version}"):
            stopped = self.canary_stopped(version)
        trip.join()
        if stopped is None:
            raise VaultActionsError(f"the demo stopped: v{version}'s canary was not stopped",
                                    f"rerun with -v; the repository is {self.repo}")
        self.console.fail(stopped.message.splitlines()[0])
        self.fates.outcomes[version] = f"died in PROD at {CANARY_PERCENT}%: alarm {PROD_ALARM}"
        body = _fetch(self.urls["prod"] + "/price-fetcher/health")
        self.console.ok(f"PROD still serves v{self.fates.live}: GET /price-fetcher/health: "
                        f"{body}")

    def canary_stopped(self, version: str) -> VaultActionsError | None:
        """Deploy ``version`` to PROD (a canary); the error that stopped it, or None."""
        try:
            release.check_delivery(release.deploy(
                self.cfg, self.cfg.environment("prod"), version, clients=aws.client, token="",
                ctx=self.ctx, parallel=DEFAULT_PARALLEL))
        except VaultActionsError as exc:
            return exc
        return None

    def _trip_alarm(self) -> None:
        """CloudWatch sees the canary's errors: once every PROD alias routes to the new
        version, the alarm goes to ALARM."""
        lambda_ = self.cloudwatch_lambda()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            routed = [lambda_.get_alias(FunctionName=function_name(s, "prod"), Name="live")
                      .get("RoutingConfig", {}).get("AdditionalVersionWeights") for s in SERVICES]
            if all(routed):
                self.console.write(f"  📈 CloudWatch: Lambda errors on the canary; "
                                   f"{PROD_ALARM} → ALARM")
                self.cloudwatch.set_alarm_state(
                    AlarmName=PROD_ALARM, StateValue="ALARM",
                    StateReason="Threshold crossed: 7 errors on the canary in 1 minute")
                return
            time.sleep(0.1)

    def cloudwatch_lambda(self) -> Any:
        """A Lambda client for PROD's region (the embedded AWS)."""
        from vault_actions.integrations import aws

        return aws.client("lambda", REGION)

    def sync_dr(self, version: str) -> None:
        """Phase 5: ``vault dr-sync`` to us-west-2, then what DR serves."""
        self.console.phase("💾 Disaster recovery: sync PROD's release to us-west-2")
        with self.console.progress(f"copying v{version} to {DR_BUCKET}, deploying {DR.upper()}"):
            self.step(f"dr-sync --version {version}", lambda: self.release(
                release.dr_sync(self.cfg, None, version, clients=aws.client, token="",
                                ctx=self.ctx).deploy
            ))
        self.console.ok(f"v{version} Globally Synced: dr_synced is in the ledger")
        body = _fetch(self.urls[DR] + "/price-fetcher/health")
        self.console.ok(f"{DR.upper()} ({DR_REGION}) serves GET /price-fetcher/health: {body}")

    def doctor(self) -> None:
        """``vault doctor``: the vault keeps what the story promises (what the embedded
        AWS cannot prove is reported as such, not passed)."""
        self.console.phase("🩺 Is the vault keeping its promises?")
        self.console.write("  $ vault doctor")
        report = doctor.examine(self.cfg, aws.client, embedded=aws.embedded())
        failed = [i.name for i in report.failed]
        if not report.ok:
            self.console.fail(f"vault doctor: {', '.join(failed)}")
            raise VaultActionsError(
                f"the demo stopped: its own vault fails vault doctor ({', '.join(failed)})",
                f"rerun with -v; the repository is {self.repo}",
            )
        passed = sum(1 for i in report.items if i.status == "pass")
        self.console.ok(f"vault doctor: {passed} checks pass (buckets, locks, functions)")
        if report.unchecked:
            self.console.note(f"➖ {len(report.unchecked)} not checkable on the embedded AWS: "
                              "its S3 cannot hold the put-once and TLS-only policies (it would "
                              "apply their conditions to every request)")

    def report(self, markdown: Path, drawing: Path) -> tuple[str, str, Any]:
        """``vault graveyard`` into ``markdown`` and, drawn for a terminal, into ``drawing``;
        both texts and ``vault status`` data."""
        self.console.phase("🪦 The Release Graveyard, from the ledger")
        seen, last = overview(self.cfg, self.ledger().events()), status.DEFAULT_LIMIT
        self.console.write(f"  $ vault graveyard --output {markdown}")
        written = graveyard.graveyard_markdown(self.cfg, seen.journeys, seen.live, last)
        markdown.write_text(written, encoding="utf-8")
        self.console.write(f"  $ vault graveyard --format text --output {drawing}")
        drawn = graveyard.graveyard_text(self.cfg, seen.journeys, seen.live, last)
        drawing.write_text(drawn + "\n", encoding="utf-8")
        self.console.write("  $ vault status")
        attempts = {v: n for n, v in enumerate(seen.journeys, 1)}
        data = status.status_data(self.cfg, seen.journeys, seen.live, seen.lags, attempts)
        return written, drawn + "\n", data

    def vault(self) -> Vault:
        """The vault bucket of the story's vault.yml."""
        vault = self.cfg.vault
        return Vault(aws.client("s3", vault.region), vault.bucket, vault.region)

    def ledger(self) -> Ledger:
        """The ledger in the vault bucket."""
        vault = self.cfg.vault
        return Ledger(aws.client("s3", vault.region), vault.bucket, vault.ledger_prefix)

    @staticmethod
    def release(result: DeployResult) -> DeployResult:
        """``result`` if every function serves the release, else its DeployError."""
        release.check_result(result)
        return result

    @staticmethod
    def delivered(delivery: RolloutResult) -> DeployResult:
        """The deploy's result if the rollout finished and every function serves the
        release, else its DeployError."""
        release.check_delivery(delivery)
        return delivery.deploy


def _fetch(url: str) -> str:
    """The body of GET ``url`` (error statuses included), for the story's narration."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
            return str(response.read().decode())
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.read().decode(errors='replace')}"


# ---------------------------------------------------------------- process environment


@contextlib.contextmanager
def isolated_environment(aws_env: Mapping[str, str]) -> Iterator[None]:
    """``aws_env`` set, and nothing of the caller's AWS profile or GitHub run, meanwhile.

    The demo must never reach a real AWS account, a GitHub repository or a Slack channel.
    """
    saved = dict(os.environ)
    try:
        for name in list(os.environ):
            if name.startswith("GITHUB_") or name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
                del os.environ[name]
        os.environ.update(aws_env)
        os.environ["AWS_CONFIG_FILE"] = os.devnull
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def quiet_logs(verbose: bool) -> Iterator[None]:
    """Only errors from the commands' logs (the demo narrates), emulator warnings kept."""
    package = logging.getLogger("vault_actions")
    emulator = logging.getLogger("vault_actions.demo.emulator")
    levels = (package.level, emulator.level)
    if not verbose:
        package.setLevel(logging.ERROR)
        emulator.setLevel(logging.WARNING)
    try:
        yield
    finally:
        package.setLevel(levels[0])
        emulator.setLevel(levels[1])
