"""The auditor's fixture: the manual's story plus a canary rolled back in PROD, at exact times.

v1.0.0 dies in QA, v1.0.1 is rejected at UAT, v1.0.2 goes live in PROD (and DR), v1.0.3's
canary trips an alarm in PROD at 10% (it dies there) and is rolled back, v1.0.4 goes live. A real git repository
holds the commits behind the release tags, with the authors and times below, so every
figure the tests expect can be worked out by hand.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tests.oidc_issuer import workflow_of
from tests.unit.store.test_ledger import VAULT_YML
from vault_actions import config
from vault_actions.context import RunContext
from vault_actions.store.attestation import GITHUB_OIDC, audience
from vault_actions.store.ledger import GITHUB_GATE, Event, Ledger

RUN = "https://github.com/acme/shop/actions/runs/"
SHA = "c0ffee" * 6 + "abcd"

# (tag, author, e-mail, commit time, subject)
COMMITS = [
    ("v1.0.0", "alice", "alice@example.com", "2026-03-01T09:00:00+00:00", "feat: prices"),
    ("v1.0.1", "alice", "alice@example.com", "2026-03-01T15:00:00+00:00", "fix: qa health"),
    ("v1.0.2", "bob", "bob@example.com", "2026-03-02T08:00:00+00:00", "fix: business rule"),
    ("v1.0.3", "carol", "carol@example.com", "2026-03-03T10:00:00+00:00", "feat: faster quotes"),
    ("v1.0.4", "alice", "alice@example.com", "2026-03-04T09:00:00+00:00", "fix: 5xx on quotes"),
]

FAILED_CHECK = {"name": "health", "method": "GET", "url": "https://qa.example/health",
                "ok": False, "status": 500, "latency_ms": 12, "attempts": 3,
                "reason": "expected status 200, got 500"}
TRIP = {"alarm": "prod-5xx", "weight": 10, "trip": "alarm"}
CANARY = {"strategy": "canary", "steps": [{"weight": 10, "after_seconds": 0.0}], "trip": TRIP}


def _gate(by: str, run: int) -> dict[str, Any]:
    return {"by": by, "run_id": str(run), "source": GITHUB_GATE}


def _passing(version: str, day: str, hour: int, run: int) -> list[tuple[Any, ...]]:
    """built, then deployed + smoke_passed in dev and qa, ten minutes apart."""
    return [
        (f"{day}T{hour:02d}:10", version, "built", None, {}, run),
        (f"{day}T{hour:02d}:20", version, "deployed", "dev", {}, run),
        (f"{day}T{hour:02d}:21", version, "smoke_passed", "dev", {}, run),
        (f"{day}T{hour:02d}:30", version, "deployed", "qa", {}, run),
        (f"{day}T{hour:02d}:31", version, "smoke_passed", "qa", {}, run),
    ]


# (time, version, event, environment, details, run id)
STORY: list[tuple[Any, ...]] = [
    ("2026-03-01T09:10", "1.0.0", "built", None, {}, 1),
    ("2026-03-01T09:20", "1.0.0", "deployed", "dev", {}, 1),
    ("2026-03-01T09:21", "1.0.0", "smoke_passed", "dev", {}, 1),
    ("2026-03-01T09:30", "1.0.0", "deployed", "qa", {}, 1),
    ("2026-03-01T09:31", "1.0.0", "smoke_failed", "qa", {"results": [FAILED_CHECK]}, 1),
    *_passing("1.0.1", "2026-03-01", 15, 2),
    ("2026-03-01T15:40", "1.0.1", "approved", "uat", _gate("qa-lead", 2), 2),
    ("2026-03-01T15:41", "1.0.1", "deployed", "uat", {}, 2),
    ("2026-03-01T16:00", "1.0.1", "rejected", "uat",
     {"by": "manager", "reason": "Biz Logic Error"}, 2),
    *_passing("1.0.2", "2026-03-02", 8, 3),
    ("2026-03-02T08:40", "1.0.2", "approved", "uat", _gate("qa-lead", 3), 3),
    ("2026-03-02T08:41", "1.0.2", "deployed", "uat", {}, 3),
    ("2026-03-02T09:00", "1.0.2", "approved", "prod", _gate("manager", 3), 3),
    ("2026-03-02T09:01", "1.0.2", "deployed", "prod", {}, 3),
    ("2026-03-02T09:02", "1.0.2", "smoke_passed", "prod", {}, 3),
    ("2026-03-02T09:10", "1.0.2", "dr_synced", "dr", {}, 4),
    *_passing("1.0.3", "2026-03-03", 10, 5),
    ("2026-03-03T10:40", "1.0.3", "approved", "uat", _gate("qa-lead", 5), 5),
    ("2026-03-03T10:41", "1.0.3", "deployed", "uat", {}, 5),
    ("2026-03-03T11:00", "1.0.3", "approved", "prod", _gate("manager", 5), 5),
    # the canary's shape (cli/commands/deploy.py): a 10% shift, the alarm kills the version
    # (smoke_failed with the trip and the rollout) and every alias is restored
    ("2026-03-03T11:01", "1.0.3", "traffic_shifted", "prod",
     {"weight": 10, "strategy": "canary", "alias": "live"}, 5),
    ("2026-03-03T11:06", "1.0.3", "smoke_failed", "prod",
     {**TRIP, "rollout": CANARY, "reason": "died in prod at 10%: alarm prod-5xx"}, 5),
    ("2026-03-03T11:06:30", "1.0.3", "rolled_back", "prod",
     {**TRIP, "alias": "live", "restored": []}, 5),
    *_passing("1.0.4", "2026-03-04", 9, 6),
    ("2026-03-04T09:40", "1.0.4", "approved", "uat", _gate("qa-lead", 6), 6),
    ("2026-03-04T09:41", "1.0.4", "deployed", "uat", {}, 6),
    ("2026-03-04T10:00", "1.0.4", "approved", "prod", _gate("manager", 6), 6),
    ("2026-03-04T10:01", "1.0.4", "deployed", "prod", {}, 6),
    ("2026-03-04T10:02", "1.0.4", "smoke_passed", "prod", {}, 6),
    ("2026-03-04T10:10", "1.0.4", "dr_synced", "dr", {}, 7),
]

VERSIONS = ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"]
APPROVERS = ["qa-lead", "manager"]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cfg(issuer: Any, bucket: str = "vault-test-bucket") -> config.Config:
    """The story's vault.yml, its ledger written by acme/shop's runs and proven by ``issuer``."""
    return config.parse(yaml.safe_load(vault_yml(issuer, bucket)), Path("/repo/vault.yml"))


def vault_yml(issuer: Any, bucket: str) -> str:
    ledger = f"ledger:\n  repository: acme/shop\n  issuer: {issuer.url}\n"
    return VAULT_YML.format(bucket=bucket, dr_bucket=f"{bucket}-dr") + ledger


@dataclass
class Jobs:
    """Proves each event the way the suite's jobs do: a token of the writing job (its
    environment, workflow and run) bound to the event's digest, issued when it happened."""

    issuer: Any

    def prove(self, body: Mapping[str, Any]) -> dict[str, Any]:
        env = body.get("environment")
        workflow = workflow_of(body["event"], env, source=(body.get("details") or {}).get("source"))
        run_id = str(body["run_url"]).rsplit("/", 1)[-1]
        issued = int(datetime.fromisoformat(body["at"]).timestamp())
        token = self.issuer.token(audience(body), environment=env, job_workflow_ref=workflow,
                                  run_id=run_id, sha=body.get("commit") or SHA, iat=issued,
                                  nbf=issued, exp=issued + 300)
        return {"kind": GITHUB_OIDC, "token": token}


def events(issuer: Any = None) -> list[Event]:
    """STORY as Event objects (no I/O), proven by ``issuer``'s tokens when given."""
    out = []
    for n, (at, version, event, env, details, run) in enumerate(STORY):
        when = moment(at)
        unsigned = Event(
            id=f"{when:%Y%m%dT%H%M%S%fZ}-{n:032x}", version=version, event=event,
            environment=env, at=when.isoformat(timespec="microseconds"), actor="octocat",
            commit=SHA, run_url=f"{RUN}{run}", details=dict(details),
        )
        proof = Jobs(issuer).prove(unsigned.to_json()) if issuer else None
        out.append(replace(unsigned, proof=proof))
    return out


def _context(run: int) -> RunContext:
    return RunContext(actor="octocat", repository="acme/shop", run_id=str(run),
                      run_url=f"{RUN}{run}", sha=SHA,
                      server_url="https://github.com", api_url="https://api.github.com")


def record(s3: Any, bucket: str, issuer: Any) -> Ledger:
    """Write STORY into a real ledger (moto), each event at its time, proven by its job."""
    times: Iterator[datetime] = (moment(row[0]) for row in STORY)
    ledger = Ledger(s3, bucket, clock=lambda: next(times), attestor=Jobs(issuer))
    for _, version, event, env, details, run in STORY:
        ledger.record(version, event, env, _context(run), details=details)
    return ledger


def repo(root: Path, commits: list[tuple[str, str, str, str, str]] = COMMITS) -> Path:
    """A git repository with one commit per release, tagged, by the given authors and times."""
    root.mkdir(parents=True, exist_ok=True)
    base = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(root.parent)}

    def git(*args: str, **env: str) -> None:
        subprocess.run(["git", *args], cwd=root, env={**base, **env}, check=True,
                       capture_output=True)

    git("init", "-q", "-b", "main")
    for n, (tag, author, email, at, subject) in enumerate(commits):
        (root / "CHANGES").write_text(f"{n}\n")
        git("add", "CHANGES")
        who = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": at,
               "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": email,
               "GIT_COMMITTER_DATE": at}
        git("commit", "-q", "-m", subject, **who)
        git("tag", tag, **who)
    return root
