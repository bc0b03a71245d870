"""Smoke tests: an environment's declarative HTTP checks and the team's own command.

Everything runs at once against one deadline (``timeout_seconds`` from the start): each
HTTP check is retried with backoff while it fails, so a target that is still starting up
passes once it comes up; the command runs once and is killed at the deadline.

The use case around it (live check, record, notify) is ``deliver.smoke_release``. The
module stays one piece (over 400 lines) because the checks, the command runner, their
report and its renderings share the one deadline model above.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from vault_actions.config import FORBIDDEN_BUILD_ENV, READ_ONLY_METHODS, Check, Environment
from vault_actions.errors import ConfigError
from vault_actions.text import plural

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 15.0
# Even the last attempt at the deadline gets this long to answer, so a slow target is
# reported as slow rather than as cut off.
MIN_REQUEST_TIMEOUT = 5.0
BACKOFF_FACTOR = 1.5
OUTPUT_TAIL_LINES = 10
SNIPPET_CHARS = 80
COMMAND_METHOD = "CMD"
USER_AGENT = "vault-actions-smoke"
_MISSING = object()
_NETWORK_ERRORS = (
    ("Connection refused", "connection refused"),
    ("Connection reset", "connection reset by the server"),
    ("NameResolutionError", "host name could not be resolved"),
    ("Name or service not known", "host name could not be resolved"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS certificate verification failed"),
)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one HTTP check or of the smoke command (method ``CMD``).

    ``status`` is the last HTTP status received (the exit code for the command);
    ``reason`` says what differed from the expectation ('' when ``ok``).
    """

    name: str
    method: str
    url: str
    ok: bool
    status: int | None
    latency_ms: int | None
    attempts: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class SmokeReport:
    """Every check's result for one version in one environment."""

    env: str
    version: str
    passed: bool
    results: tuple[CheckResult, ...]
    duration: float

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The results that failed."""
        return tuple(r for r in self.results if not r.ok)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "environment": self.env,
            "version": self.version,
            "passed": self.passed,
            "duration_seconds": round(self.duration, 3),
            "results": [r.to_json() for r in self.results],
        }


@dataclass(frozen=True)
class _Attempt:
    status: int | None
    latency_ms: int | None
    problems: tuple[str, ...]


def resolve_base_url(env: Environment, override: str | None) -> str | None:
    """The override when given, else ``smoke.base-url``; ConfigError if not http(s)."""
    base = override or (env.smoke.base_url if env.smoke else None)
    if base and not base.startswith(("http://", "https://")):
        raise ConfigError(
            f"smoke base URL {base!r} for environment {env.name!r} is not an http(s) URL",
            "pass a URL such as https://api.example.com/dev",
        )
    return base.rstrip("/") if base else None


def refuse_unsafe_checks(env: Environment, checks: Iterable[Check]) -> None:
    """ConfigError when a read-only environment would get a non-GET/HEAD check."""
    unsafe = [c for c in checks if c.method not in READ_ONLY_METHODS]
    if env.read_only and unsafe:
        names = ", ".join(f"{c.label} ({c.method})" for c in unsafe)
        raise ConfigError(
            f"environment {env.name!r} is read-only; refusing smoke check(s) {names}",
            "use GET or HEAD checks there (or set read-only: false in vault.yml)",
        )


def run(
    env: Environment,
    version: str,
    root: Path,
    base_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> SmokeReport:
    """Run ``env``'s smoke settings against ``version``; never raises for a failed check.

    ``root`` is the folder the command runs in (vault.yml's); ``base_url`` overrides
    ``smoke.base-url``; ``extra_env`` is added to the command's environment.
    ConfigError when there is nothing to run or a check is unsafe.
    """
    smoke = env.smoke
    if smoke is None or not env.smoke_tested:
        raise ConfigError(
            f"environment {env.name!r} has no smoke checks and no smoke command",
            f"add smoke.checks or smoke.command to environment {env.name!r} in vault.yml",
        )
    refuse_unsafe_checks(env, smoke.checks)
    base = resolve_base_url(env, base_url)
    if smoke.checks and base is None:
        raise ConfigError(
            f"environment {env.name!r} has smoke checks but no base URL",
            "set smoke.base-url in vault.yml or pass --base-url (action input base-url)",
        )
    started = time.monotonic()
    deadline = started + smoke.timeout_seconds
    jobs: list[Callable[[], CheckResult]] = [
        functools.partial(run_check, check, base or "", deadline, smoke.retry_interval_seconds)
        for check in smoke.checks
    ]
    if smoke.command:
        cmd_env = {"VAULT_ENV": env.name, "VAULT_VERSION": version, "VAULT_BASE_URL": base or "",
                   **(extra_env or {})}
        jobs.append(functools.partial(run_command, smoke.command, root, cmd_env, deadline))
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(jobs), 16)) as pool:
        results = tuple(pool.map(lambda job: job(), jobs))
    duration = time.monotonic() - started
    passed = all(r.ok for r in results)
    log.info("smoke v%s in %s: %s in %.1f s", version, env.name,
             "passed" if passed else "FAILED", duration)
    return SmokeReport(env.name, version, passed, results, duration)


def run_check(check: Check, base_url: str, deadline: float, interval: float) -> CheckResult:
    """Request ``check`` until it passes or ``deadline`` (monotonic) passes."""
    url = base_url + check.path
    attempts = 0
    while True:
        attempts += 1
        attempt = _attempt(check, url, max(deadline - time.monotonic(), MIN_REQUEST_TIMEOUT))
        if not attempt.problems:
            return _result(check, url, attempt, attempts)
        delay = min(interval * BACKOFF_FACTOR ** (attempts - 1), MAX_BACKOFF_SECONDS)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            log.warning("✗ %s: %s (%d attempts)", check.label, "; ".join(attempt.problems),
                        attempts)
            return _result(check, url, attempt, attempts)
        log.info("%s: %s (attempt %d), retrying in %.1f s", check.label,
                 "; ".join(attempt.problems), attempts, min(delay, remaining))
        time.sleep(min(delay, remaining))


def _result(check: Check, url: str, attempt: _Attempt, attempts: int) -> CheckResult:
    return CheckResult(
        name=check.label,
        method=check.method,
        url=url,
        ok=not attempt.problems,
        status=attempt.status,
        latency_ms=attempt.latency_ms,
        attempts=attempts,
        reason="; ".join(attempt.problems),
    )


def _attempt(check: Check, url: str, timeout: float) -> _Attempt:
    import requests

    started = time.monotonic()
    try:
        response = requests.request(
            check.method,
            url,
            headers={"User-Agent": USER_AGENT, **check.headers},
            data=check.body.encode() if check.body is not None else None,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        return _Attempt(None, None, (f"no response within {timeout:.1f} s",))
    except requests.RequestException as exc:
        return _Attempt(None, None, (_describe_error(exc),))
    latency_ms = round((time.monotonic() - started) * 1000)
    return _Attempt(response.status_code, latency_ms, _problems(check, response, latency_ms))


def _describe_error(exc: BaseException) -> str:
    """'connection refused' and friends rather than urllib3's nested repr."""
    text = str(exc)
    for marker, meaning in _NETWORK_ERRORS:
        if marker in text:
            return meaning
    return f"{type(exc).__name__}: {_snippet(text, 200)}"


def _problems(check: Check, response: requests.Response, latency_ms: int) -> tuple[str, ...]:
    if response.status_code != check.status:
        return (f"expected status {check.status}, got {response.status_code}",)
    problems = list(_json_problems(check.json, response)) if check.json else []
    if check.body_contains is not None and check.body_contains not in response.text:
        problems.append(
            f"expected body to contain {check.body_contains!r}, "
            f"got {_snippet(response.text, SNIPPET_CHARS)!r}"
        )
    if check.max_latency_ms is not None and latency_ms > check.max_latency_ms:
        problems.append(f"latency {latency_ms} ms over the {check.max_latency_ms} ms limit")
    return tuple(problems)


def _json_problems(expected: dict[str, Any], response: requests.Response) -> Iterable[str]:
    try:
        document = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        yield f"expected a JSON body, got {kind}: {_snippet(response.text, SNIPPET_CHARS)!r}"
        return
    for path, want in expected.items():
        got = json_field(document, path)
        if got is _MISSING:
            yield f"expected json field {path} == {want!r}, field missing"
        elif not json_equal(want, got):
            yield f"expected json field {path} == {want!r}, got {got!r}"


def json_field(document: Any, path: str) -> Any:
    """The value at a dotted path (``data.items.0.id``); ``_MISSING`` when absent."""
    current = document
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def json_equal(want: Any, got: Any) -> bool:
    """JSON value equality: ``true`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got
    return bool(want == got)


def _snippet(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def command_environment() -> dict[str, str]:
    """This process's environment without what would let the command act as the job."""
    return {k: v for k, v in os.environ.items() if not FORBIDDEN_BUILD_ENV.fullmatch(k)}


def run_command(command: str, cwd: Path, extra_env: dict[str, str], deadline: float) -> CheckResult:
    """Run the team's own smoke command with ``bash -c``; killed at ``deadline``.

    Like a build command, it is the repository's code: it sees none of the job's
    credentials (``FORBIDDEN_BUILD_ENV``: AWS, ``ACTIONS_*`` such as the OIDC token
    request, ``GITHUB_*``, inputs, anything named like a token or secret), so it cannot
    state ledger events as the job. Its output is streamed to stderr; the last lines are
    kept for the failure reason.
    """
    started = time.monotonic()
    log.info("running smoke command: %s", command)
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env={**command_environment(), **extra_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    assert proc.stdout is not None
    reader = threading.Thread(target=_stream, args=(proc.stdout, tail), daemon=True)
    reader.start()
    killed = False
    try:
        code = proc.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        killed = True
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
    reader.join(timeout=5)
    latency_ms = round((time.monotonic() - started) * 1000)
    reason = ""
    if killed:
        reason = f"command still running at the deadline ({latency_ms / 1000:.1f} s); killed"
    elif code != 0:
        reason = f"command exited with code {code}"
    if reason and tail:
        reason += "\nlast output:\n" + "\n".join(tail)
    return CheckResult(
        name=command,
        method=COMMAND_METHOD,
        url=extra_env["VAULT_BASE_URL"],
        ok=not reason,
        status=code,
        latency_ms=latency_ms,
        attempts=1,
        reason=reason,
    )


def _stream(pipe: IO[bytes], tail: deque[str]) -> None:
    with pipe:
        for raw in pipe:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            tail.append(line)
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


def markdown(report: SmokeReport) -> str:
    """The report as a step-summary section: a heading and one table row per check."""
    verdict = "✅ passed" if report.passed else "❌ FAILED"
    lines = [
        f"### Smoke tests: v{report.version} in {report.env} — {verdict}",
        "",
        "| check | result | status | latency | attempts | reason |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in report.results:
        status = "" if r.status is None else str(r.status)
        latency = "" if r.latency_ms is None else f"{r.latency_ms} ms"
        cells = [_cell(r.name), "✅" if r.ok else "❌", status, latency, str(r.attempts),
                 _cell(r.reason)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"{plural(len(report.results), 'check')} in {report.duration:.1f} s"]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def results_json(report: SmokeReport) -> str:
    """The results as compact JSON (the action's ``results`` output)."""
    return json.dumps([r.to_json() for r in report.results], separators=(",", ":"))

