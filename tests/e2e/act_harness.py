"""Run the real workflow templates and actions with ``act`` (self-hosted mode, no Docker).

The suite itself is mounted as ``vault-actions/vault-actions@v1`` with
``--local-repository``; the third-party actions it pins by SHA are replaced by the
stand-ins in ``tests/e2e/act_stubs`` (nothing here can reach GitHub). act itself copies the
consumer repository into the workspace for ``actions/checkout`` of the current ref; the
checkout stand-in clones it (``VAULT_TEST_SOURCE_REPO``) for any other ref.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT

STUBS = Path(__file__).resolve().parent / "act_stubs"
SUITE = "vault-actions/vault-actions"
STUB_OF = {
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "astral-sh/setup-uv": "setup-uv",
    "aws-actions/configure-aws-credentials": "configure-aws-credentials",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
}
_PINNED = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})")
_JOB_END = re.compile(r"^\[(?P<job>[^\]]+)\]\s+🏁\s+Job (?P<result>succeeded|failed)", re.M)


def act_available() -> bool:
    return shutil.which("act") is not None or (Path(sys.executable).parent / "act").exists()


@functools.cache
def suite_copy() -> Path:
    """The suite's files as git sees them (tracked, or untracked and not ignored).

    act reads a local repository whole, so a checkout holding a venv (CI's .venv) would
    cost gigabytes per action resolved; the copy holds only the suite.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    target = Path(tempfile.mkdtemp(prefix="vault-actions-suite-"))
    atexit.register(shutil.rmtree, target, True)
    for rel in filter(None, listed):
        source = REPO_ROOT / rel
        if source.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    return target


# The release commit `vault init` pins the callers to in the e2e run (--sha).
SUITE_SHA = "e2e0" * 10


def local_repositories() -> list[str]:
    """``--local-repository`` values: the suite at @v1 and at the callers' pinned SHA, and
    a stand-in per pinned action."""
    pins: set[tuple[str, str]] = set()
    for path in [*REPO_ROOT.glob("action-*/action.yml"), *REPO_ROOT.glob("workflows-templates/*.yml")]:
        pins.update(_PINNED.findall(path.read_text()))
    values = [f"{SUITE}@v1={suite_copy()}", f"{SUITE}@{SUITE_SHA}={suite_copy()}"]
    for action, sha in sorted(pins):
        values.append(f"{action}@{sha}={STUBS / STUB_OF[action]}")
    return values


@dataclass
class ActRun:
    """One ``act`` invocation: exit code, full log, and how each job ended."""

    returncode: int
    log: str
    jobs: dict[str, str] = field(default_factory=dict)

    def result(self, job: str) -> str | None:
        """'succeeded', 'failed' or None (never ran) for the job whose name ends act's name,
        or whose caller's job name starts it (``DEV/vault stage/deploy + smoke``: ``DEV``)."""
        for name, result in self.jobs.items():
            if job in (name.split("/")[-1], name.split("/")[0]):
                return result
        return None


def run_act(
    consumer: Path,
    workflow: str,
    event: str,
    payload: dict[str, Any],
    env: dict[str, str],
    *,
    secrets: dict[str, str] | None = None,
    timeout: int = 600,
) -> ActRun:
    """Run ``act <event> -W <workflow>`` in ``consumer`` and parse the job results."""
    event_file = consumer.parent / f"{consumer.name}-event.json"
    event_file.write_text(json.dumps(payload))
    act = shutil.which("act") or str(Path(sys.executable).parent / "act")
    argv = [
        act, event, "-W", workflow if "/" in workflow else f".github/workflows/{workflow}", "-e", str(event_file),
        "-P", "ubuntu-latest=-self-hosted", "--actor", payload.get("sender", {}).get("login", "octocat"),
    ]
    for value in local_repositories():
        argv += ["--local-repository", value]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    for key, value in (secrets or {}).items():
        argv += ["-s", f"{key}={value}"]
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    # the runner machine holds no AWS session: jobs get one from configure-aws-credentials
    machine = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        argv, cwd=consumer, capture_output=True, text=True, timeout=timeout, check=False,
        env={**machine, "PATH": path},
    )
    log = done.stdout + done.stderr
    jobs = {m["job"].strip(): m["result"] for m in _JOB_END.finditer(log)}
    return ActRun(done.returncode, log, jobs)


def finish_as_github(consumer: Path, workflow: str, run: ActRun, version: str, env: dict[str, str],
                     secrets: dict[str, str]) -> ActRun:
    """Run the ``if: always()`` jobs of ``workflow`` that act never started, as GitHub would.

    act ends a run at the first failed job of a called workflow (nektos/act's plan executor
    returns the called plan's "Job '…' failed" error, which stops the caller's remaining
    stages), so the record job after a failed environment never starts there; GitHub runs
    it. This runs that same generated job (its ``uses``, ``permissions`` and ``with``) in
    a one-job workflow beside the repository, with ``needs`` as GitHub would give it (each
    caller job's result from act's run, the Factory's version), and adds its result.
    """
    import yaml

    doc = yaml.load((consumer / ".github/workflows" / workflow).read_text(), Loader=yaml.BaseLoader)
    jobs: dict[str, Any] = doc["jobs"]
    ended = {"succeeded": "success", "failed": "failure", None: "skipped"}
    results = {job_id: ended[run.result(job.get("name", job_id))] for job_id, job in jobs.items()}
    for job_id, job in jobs.items():
        if not str(job.get("if", "")).startswith("always()") or run.result(job.get("name", job_id)):
            continue
        needs = {n: {"result": "success" if n == "build" else results[n],
                     "outputs": {"version": version} if n == "build" else {}} for n in job["needs"]}
        given = {k: v.replace("${{ needs.build.outputs.version }}", version)
                 .replace("${{ toJSON(needs) }}", json.dumps(needs)) for k, v in job["with"].items()}
        alone = {"name": doc["name"], "on": "push", "permissions": {},
                 "jobs": {job_id: {k: v for k, v in {**job, "with": given}.items() if k not in ("needs", "if")}}}
        replay = consumer.parent / f"{consumer.name}-{job_id}.yml"
        replay.write_text(yaml.safe_dump(alone, sort_keys=False))
        event = json.loads((consumer.parent / f"{consumer.name}-event.json").read_text())
        more = run_act(consumer, str(replay), "push", event, env, secrets=secrets)
        run = ActRun(run.returncode or more.returncode, run.log + more.log, {**run.jobs, **more.jobs})
    return run


def job_claims(request_token: str) -> dict[str, Any] | None:
    """The OIDC claims of the act job whose credentials stand-in wrote ``request_token``
    (``e2e|<job id>|<role suffix>|<actor>|<run id>|<sha>|<repository>``): the job id (of
    the suite workflow's job) says which workflow it runs, the role of a deploy job its
    environment (roles are ``<prefix><environment>``), as GitHub's runner knows from the job."""
    from tests.oidc_issuer import BUILD, DR_SYNC, GATE, RECORD, STAGE

    parts = request_token.split("|")
    if len(parts) != 7 or parts[0] != "e2e":
        return None
    _, job, role, actor, run_id, sha, repository = parts
    workflow = {"publish": BUILD, "record": RECORD, "decide": GATE, "dr-sync": DR_SYNC}.get(job, STAGE)
    environment = None if job in ("publish", "record", "decide") else role  # jobs' environments
    return {"environment": environment, "job_workflow_ref": workflow, "actor": actor,
            "run_id": run_id, "sha": sha, "repository": repository,
            "sub": f"repo:{repository}:environment:{environment}" if environment
            else f"repo:{repository}:ref:refs/heads/main"}


@dataclass
class FakeGitHub:
    """A local stand-in for api.github.com: real HTTP, payloads shaped like GitHub's."""

    repository: str
    approvals: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    releases: dict[int, dict[str, Any]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, None))
                self._reply(*fake.answer("GET", self.path, None))

            def _write(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                fake.requests.append((self.command, self.path, body))
                self._reply(*fake.answer(self.command, self.path, body))

            do_POST = do_PATCH = _write

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        base = f"{self.url}/repos/{self.repository}"
        path = path.split("?", maxsplit=1)[0]
        if path == f"/repos/{self.repository}":
            owner, name = self.repository.split("/")
            return 200, {"id": 1, "name": name, "full_name": self.repository, "url": base,
                         "owner": {"login": owner}, "default_branch": "main"}
        if re.fullmatch(rf"/repos/{self.repository}/actions/runs/\d+/approvals", path):
            return 200, self.approvals
        if method == "POST" and path == f"/repos/{self.repository}/deployments":
            number = sum(1 for r in self.requests if r[1] == path)
            return 201, {"id": number, "url": f"{base}/deployments/{number}", "ref": body.get("ref"),
                         "environment": body.get("environment"), "payload": body.get("payload")}
        if method == "GET" and path == f"/repos/{self.repository}/commits":
            return 200, []  # no commit linked to a GitHub account: people are their emails
        if method == "GET" and re.fullmatch(rf"/repos/{self.repository}/compare/[^/]+", path):
            return 200, {"status": "ahead", "ahead_by": 0, "behind_by": 0, "commits": []}
        if method == "POST" and re.fullmatch(rf"/repos/{self.repository}/deployments/\d+/statuses", path):
            return 201, {"id": len(self.requests), "state": body.get("state")}
        return self._releases(method, path, body, base)

    def release(self, tag: str) -> dict[str, Any] | None:
        """The release of ``tag``, as stored."""
        return next((r for r in self.releases.values() if r["tag_name"] == tag), None)

    def _releases(self, method: str, path: str, body: Any, base: str) -> tuple[int, Any]:
        """Create, read by tag and edit releases (the latest is the last made latest)."""
        prefix = f"/repos/{self.repository}/releases"
        tag = re.fullmatch(rf"{prefix}/tags/(.+)", path)
        if method == "GET" and tag and self.release(tag[1]):
            return 200, self.release(tag[1])
        if method == "GET" and path == f"{prefix}/latest" and self.releases:
            latest = [r for r in self.releases.values() if r.get("_latest")]
            return (200, latest[-1]) if latest else (404, {"message": "Not Found"})
        if method == "POST" and path == prefix:
            number = len(self.releases) + 1
            self.releases[number] = {
                "id": number, "url": f"{base}/releases/{number}", "tag_name": body["tag_name"],
                "name": body.get("name"), "body": body.get("body", ""), "draft": False,
                "prerelease": body.get("prerelease", False), "html_url": f"https://github.com{prefix}/{number}",
                "upload_url": f"{base}/releases/{number}/assets{{?name,label}}",
                "author": {"login": "github-actions[bot]"}, "assets": [], "created_at": "2026-11-28T00:00:00Z",
                "published_at": "2026-11-28T00:00:00Z", "target_commitish": body.get("target_commitish"),
            }
            return 201, self.releases[number]
        edit = re.fullmatch(rf"{prefix}/(\d+)", path)
        if method == "PATCH" and edit and int(edit[1]) in self.releases:
            release = self.releases[int(edit[1])]
            release.update({k: v for k, v in body.items() if k != "make_latest"})
            if body.get("make_latest") == "true":
                for other in self.releases.values():
                    other["_latest"] = False
                release["_latest"] = True
            return 200, release
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
