"""The ledger against a real moto server: put-once events, journeys and the promotion policy."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import make_vault_bucket, store_manifest
from tests.ledger_seed import Requests
from tests.oidc_issuer import HonestJobs, Issuer
from vault_actions import config
from vault_actions.context import RunContext
from vault_actions.errors import PromotionRefused, VaultError, VersionError
from vault_actions.promotion.journey import Journey, dr_lags, journey_of, journeys, live_versions
from vault_actions.promotion.policy import check_promotion
from vault_actions.store.ledger import FATAL, Event, Ledger
from vault_actions.store.vault import Vault

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)

VAULT_YML = """\
vault:
  bucket: {bucket}
  region: us-east-1
services:
  - name: api
environments:
  - name: dev
    functions: {{api: api-dev}}
    smoke: {{base-url: "http://127.0.0.1:9", checks: [{{path: /health}}]}}
  - name: qa
    functions: {{api: api-qa}}
    smoke: {{base-url: "http://127.0.0.1:9", checks: [{{path: /health}}]}}
  - name: uat
    functions: {{api: api-uat}}
    gate: {{approvers: [qa-lead]}}
  - name: prod
    functions: {{api: api-prod}}
    gate: {{approvers: [manager]}}
    smoke: {{base-url: "http://127.0.0.1:9", checks: [{{path: /health}}]}}
  - name: dr
    mirror-of: prod
    region: us-west-2
    bucket: {dr_bucket}
    functions: {{api: api-dr}}
"""

# Who made each release (the built event's people): never one of the approvers.
MAKERS = {"people": ["octocat", "dev@example.com"]}
# (version, event, environment, details): the manual's graveyard, one minute apart.
# v1.0.0 dies in QA, v1.0.1 is rejected at UAT, v1.0.2 is live in PROD and synced to DR.
STORY: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("1.0.0", "built", None, MAKERS),
    ("1.0.0", "deployed", "dev", {}),
    ("1.0.0", "smoke_passed", "dev", {}),
    ("1.0.0", "deployed", "qa", {}),
    ("1.0.0", "smoke_failed", "qa", {}),
    ("1.0.1", "built", None, MAKERS),
    ("1.0.1", "deployed", "dev", {}),
    ("1.0.1", "smoke_passed", "dev", {}),
    ("1.0.1", "deployed", "qa", {}),
    ("1.0.1", "smoke_passed", "qa", {}),
    ("1.0.1", "approved", "uat", {"by": "qa-lead"}),
    ("1.0.1", "deployed", "uat", {}),
    ("1.0.1", "rejected", "uat", {"by": "manager", "reason": "Biz Logic Error"}),
    ("1.0.2", "built", None, MAKERS),
    ("1.0.2", "deployed", "dev", {}),
    ("1.0.2", "smoke_passed", "dev", {}),
    ("1.0.2", "deployed", "qa", {}),
    ("1.0.2", "smoke_passed", "qa", {}),
    ("1.0.2", "approved", "uat", {"by": "qa-lead"}),
    ("1.0.2", "deployed", "uat", {}),
    ("1.0.2", "approved", "prod", {"by": "manager"}),
    ("1.0.2", "deployed", "prod", {}),
    ("1.0.2", "smoke_passed", "prod", {}),
    ("1.0.2", "dr_synced", "dr", {}),
]


def context(actor: str = "octocat") -> RunContext:
    return RunContext(
        actor=actor,
        repository="acme/shop",
        run_id="4242",
        run_url="https://github.com/acme/shop/actions/runs/4242",
        sha="c0ffee" * 6 + "abcd",
        server_url="https://github.com",
        api_url="https://api.github.com",
    )


class Clock:
    """A clock that moves one minute per reading, from START."""

    def __init__(self) -> None:
        self.ticks = 0
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            self.ticks += 1
            return START + timedelta(minutes=self.ticks - 1)


def story_events() -> list[Event]:
    """STORY as Event objects (no I/O), at the times Clock would give them."""
    clock = Clock()
    out = []
    for version, event, env, details in STORY:
        at = clock()
        out.append(Event(
            id=f"{at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}", version=version, event=event,
            environment=env, at=at.isoformat(timespec="microseconds"), actor="octocat",
            commit="c0ffee", run_url="https://github.com/acme/shop/actions/runs/4242",
            details=details,
        ))
    return out


def record_story(ledger: Ledger) -> None:
    for version, event, env, details in STORY:
        ledger.record(version, event, env, context(), details=details)


def make_config(tmp_path: Path, bucket: str = "vault-test-bucket") -> config.Config:
    path = tmp_path / "vault.yml"
    path.write_text(VAULT_YML.format(bucket=bucket, dr_bucket=f"{bucket}-dr"))
    return config.load(path)


def parsed_config(bucket: str = "vault-test-bucket") -> config.Config:
    raw = yaml.safe_load(VAULT_YML.format(bucket=bucket, dr_bucket=f"{bucket}-dr"))
    return config.parse(raw, Path("/repo/vault.yml"))


RELEASED = ("1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0")


def released_bucket(s3: Any) -> str:
    """A vault bucket holding the manifests of RELEASED."""
    bucket = make_vault_bucket(s3, f"ledger-{uuid.uuid4().hex[:12]}")
    for version in RELEASED:
        store_manifest(s3, bucket, version)
    return bucket


@pytest.fixture
def ledger(s3: Any, issuer: Issuer) -> Ledger:
    """A ledger whose events are proven by the jobs entitled to write them."""
    return Ledger(s3, released_bucket(s3), clock=Clock(), attestor=HonestJobs(issuer))


@pytest.fixture
def cfg(tmp_path: Path) -> config.Config:
    return make_config(tmp_path)


# --- recording and reading -------------------------------------------------------------


def test_record_writes_one_checksummed_object_per_event(ledger: Ledger) -> None:
    event = ledger.record(
        "v1.0.0", "approved", "uat", context("octocat"), details={"by": "qa-lead", "reason": "ok"}
    )

    assert event.version == "1.0.0"
    assert event.at == "2026-03-01T10:00:00.000000+00:00"
    assert event.who == "qa-lead" and event.actor == "octocat"
    assert event.commit == "c0ffee" * 6 + "abcd"
    assert event.run_url == "https://github.com/acme/shop/actions/runs/4242"
    key = ledger.event_key(event)
    digest = hashlib.sha256(ledger.body(event)).hexdigest()
    assert key == f"ledger/v1.0.0/uat/{event.id}.{digest}.json"
    assert event.id.startswith("20260301T100000000000Z-")
    head = ledger.s3.head_object(Bucket=ledger.bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"]
    stored = json.loads(ledger.s3.get_object(Bucket=ledger.bucket, Key=key)["Body"].read())
    assert stored == {**event.to_json(), "schema": 2} and stored["writer"] == "uat"
    assert ledger.events() == [event]
    assert ledger.events("1.0.0") == [event]


def test_an_events_stored_form_is_every_field_and_the_schema(ledger: Ledger) -> None:
    event = ledger.record("1.0.0", "approved", "uat", context(), details={"by": "qa-lead"})
    assert event.to_json() == {"schema": 2, **dataclasses.asdict(event)}


def test_commit_argument_wins_over_the_run_sha(ledger: Ledger) -> None:
    event = ledger.record("1.0.0", "built", None, context(), commit="abc123")
    assert ledger.events()[0].commit == "abc123" == event.commit


def test_an_event_key_is_written_once_and_never_replaced(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = uuid.UUID(int=7)
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)
    ledger = Ledger(ledger.s3, ledger.bucket, clock=lambda: START)
    first = ledger.record("1.0.0", "rejected", "uat", context(), details={"reason": "first"})
    again = ledger.record("1.0.0", "rejected", "uat", context(), details={"reason": "first"})
    assert again == first  # a retry of the same event is recognised

    assert len(ledger.s3.list_object_versions(Bucket=ledger.bucket, Prefix="ledger/v")["Versions"]) == 1

    # Other bytes under the same id land at their own key (it names their SHA-256).
    second = ledger.record("1.0.0", "approved", "uat", context(), details={"reason": "second"})
    assert ledger.events() == [first, second]
    versions = ledger.s3.list_object_versions(Bucket=ledger.bucket, Prefix="ledger/v")
    assert sorted(v["Key"] for v in versions["Versions"]) == sorted(
        map(ledger.event_key, (first, second)))


def test_concurrent_writers_never_lose_an_event(s3: Any) -> None:
    bucket = released_bucket(s3)
    ledger = Ledger(s3, bucket)  # the real clock: writers may share a microsecond
    barrier = threading.Barrier(20)

    def write(n: int) -> Event:
        barrier.wait()
        return ledger.record("2.0.0", "smoke_passed", "dev", context(f"writer-{n}"))

    with ThreadPoolExecutor(max_workers=20) as pool:
        written = list(pool.map(write, range(20)))

    listed = ledger.events("2.0.0")
    assert len(listed) == 20
    assert {e.id for e in listed} == {e.id for e in written}
    assert {e.actor for e in listed} == {f"writer-{n}" for n in range(20)}


def test_events_are_ordered_and_filtered_by_version(ledger: Ledger) -> None:
    record_story(ledger)

    everything = ledger.events()
    assert [(e.version, e.event, e.environment) for e in everything] == [
        (v, ev, env) for v, ev, env, _ in STORY
    ]
    assert {e.version for e in ledger.events("1.0.1")} == {"1.0.1"}
    assert len(ledger.events("v1.0.1")) == 8
    assert ledger.events("9.9.9") == []
    assert journey_of(ledger, "1.0.0").death is not None


def test_programming_errors_and_bad_versions_are_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="unknown ledger event 'deployd'"):
        ledger.record("1.0.0", "deployd", "dev", context())
    with pytest.raises(ValueError, match="invalid environment name"):
        ledger.record("1.0.0", "deployed", "Dev/../x", context())
    with pytest.raises(VersionError, match=r"'1\.0'"):
        ledger.record("1.0", "built", None, context())
    with pytest.raises(VersionError):
        ledger.events("latest")
    assert ledger.events() == []


@pytest.mark.parametrize("body", [b'{"x": 1}', b"not json", b"\xff\xfe", b"[]", b'{"id": 3}'])
def test_a_foreign_object_in_the_ledger_is_skipped_by_key(
    ledger: Ledger, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 5: any role may put a malformed object; it never locks anyone out."""
    kept = ledger.record("1.0.0", "built", None, context())
    for key in ("ledger/v1.0.0/forged.json", "ledger/forged.json"):
        ledger.s3.put_object(Bucket=ledger.bucket, Key=key, Body=body)
    scan = ledger.scan()
    assert [e.id for e in scan.events] == [kept.id]
    assert sorted(s.key for s in scan.skipped) == ["ledger/forged.json", "ledger/v1.0.0/forged.json"]
    assert [e.id for e in ledger.events("1.0.0")] == [kept.id]
    assert "ledger/v1.0.0/forged.json" in caplog.text


def test_an_event_filed_under_another_version_is_skipped(ledger: Ledger) -> None:
    event = ledger.record("1.0.0", "smoke_failed", "qa", context())
    body = json.dumps(event.to_json()).encode()
    ledger.s3.put_object(Bucket=ledger.bucket, Key=f"ledger/v1.0.1/qa/{event.id}.json", Body=body)
    scan = ledger.scan("1.0.1")
    assert scan.events == []
    assert "belongs elsewhere" in scan.skipped[0].problem


def test_a_missing_bucket_is_named(s3: Any) -> None:
    ledger = Ledger(s3, "no-such-vault-bucket")
    with pytest.raises(VaultError, match="'no-such-vault-bucket' does not exist"):
        ledger.record("1.0.0", "built", None, context())
    with pytest.raises(VaultError, match="does not exist"):
        ledger.events()


# --- derived state ---------------------------------------------------------------------


def test_journeys_are_in_semver_order_and_know_their_death() -> None:
    events = story_events()
    extra = Event("x", "1.0.10", "built", None, "2026-03-02T00:00:00+00:00", "me", None, None)
    found = journeys([extra, *reversed(events)])

    assert list(found) == ["1.0.0", "1.0.1", "1.0.2", "1.0.10"]
    assert found["1.0.0"].death is not None
    assert found["1.0.0"].death.event == "smoke_failed"
    assert found["1.0.1"].death is not None and found["1.0.1"].death.reason == "Biz Logic Error"
    assert found["1.0.2"].alive and found["1.0.2"].death is None
    assert found["1.0.2"].passed("prod") and not found["1.0.0"].passed("qa")
    assert found["1.0.2"].last("approved", "uat") is not None
    assert found["1.0.2"].last("approved") == found["1.0.2"].last("approved", "prod")
    assert {"smoke_failed", "rejected", "cancelled", "withdrawn"} == FATAL


def test_live_versions_follow_deploys_and_rollbacks(ledger: Ledger) -> None:
    record_story(ledger)
    assert live_versions(ledger.events()) == {
        "dev": "1.0.2", "qa": "1.0.2", "uat": "1.0.2", "prod": "1.0.2", "dr": "1.0.2"
    }

    ledger.record("1.0.3", "deployed", "prod", context())
    ledger.record("1.0.3", "deploy_failed", "dev", context())
    assert live_versions(ledger.events())["prod"] == "1.0.3"

    ledger.record("1.0.3", "rolled_back", "prod", context())
    live = live_versions(ledger.events())
    assert live["prod"] == "1.0.2"
    assert live["dev"] == "1.0.2"

    ledger.record("1.0.3", "deployed", "prod", context())
    assert live_versions(ledger.events())["prod"] == "1.0.3"


def test_dr_lag_is_reported_when_prod_moves_on(ledger: Ledger, cfg: config.Config) -> None:
    record_story(ledger)
    events = ledger.events()
    assert dr_lags(cfg, journeys(events), live_versions(events)) == []

    ledger.record("1.0.3", "deployed", "prod", context())
    events = ledger.events()
    lags = dr_lags(cfg, journeys(events), live_versions(events))
    assert [lag.describe() for lag in lags] == ["dr lags prod: prod runs v1.0.3, dr runs v1.0.2"]


def test_dr_deployed_but_never_synced_lags(ledger: Ledger, cfg: config.Config) -> None:
    record_story(ledger)
    ledger.record("1.0.3", "deployed", "prod", context())
    ledger.record("1.0.3", "deployed", "dr", context())
    events = ledger.events()
    (lag,) = dr_lags(cfg, journeys(events), live_versions(events))
    assert lag.mirror_version == "1.0.3" and not lag.synced
    assert "never dr_synced to dr" in lag.describe()


# --- the promotion policy --------------------------------------------------------------


def refused(cfg: config.Config, journey: Journey, env: str) -> str:
    with pytest.raises(PromotionRefused) as info:
        check_promotion(cfg, journey, cfg.environment(env))
    return str(info.value)


def test_the_first_environment_needs_no_built_event(ledger: Ledger, cfg: config.Config) -> None:
    check_promotion(cfg, journey_of(ledger, "1.0.0"), cfg.environment("dev"))


def test_skipping_qa_is_refused(ledger: Ledger, cfg: config.Config) -> None:
    ledger.record("1.0.0", "deployed", "dev", context())
    ledger.record("1.0.0", "smoke_passed", "dev", context())
    ledger.record("1.0.0", "approved", "uat", context(), details={"by": "qa-lead"})
    check_promotion(cfg, journey_of(ledger, "1.0.0"), cfg.environment("qa"))

    message = refused(cfg, journey_of(ledger, "1.0.0"), "uat")
    assert "v1.0.0 has never been deployed to qa; uat only takes versions that passed qa" in message
    assert "there is no way to skip an environment" in message


def test_a_deploy_without_a_passed_smoke_test_is_not_enough(
    ledger: Ledger, cfg: config.Config
) -> None:
    ledger.record("1.0.0", "deployed", "dev", context())
    message = refused(cfg, journey_of(ledger, "1.0.0"), "qa")
    assert "was deployed to dev at 2026-03-01 10:00:00 UTC but has not passed its smoke test" in (
        message
    )

    ledger.record("1.0.0", "smoke_passed", "dev", context())
    ledger.record("1.0.0", "deployed", "dev", context())  # redeployed: the pass is stale
    assert "has not passed its smoke test" in refused(cfg, journey_of(ledger, "1.0.0"), "qa")


def test_a_rolled_back_version_has_not_passed(ledger: Ledger, cfg: config.Config) -> None:
    for event in ("deployed", "smoke_passed", "rolled_back"):
        ledger.record("1.0.0", event, "dev", context())
    assert "was rolled back in dev (rolled_back in dev at" in refused(
        cfg, journey_of(ledger, "1.0.0"), "qa"
    )


def test_a_dead_version_is_refused_everywhere_with_where_it_died(
    ledger: Ledger, cfg: config.Config
) -> None:
    for version, event, env, details in STORY[:5]:
        ledger.record(version, event, env, context("octocat"), details=details)
    journey = journey_of(ledger, "1.0.0")

    for env in ("dev", "qa", "uat", "dr"):
        message = refused(cfg, journey, env)
        assert message.startswith(
            "v1.0.0 is dead: smoke_failed in qa at 2026-03-01 10:04:00 UTC by octocat; "
            "versions never come back — release a new version"
        )
        assert "next build releases a new version" in message


def test_rejection_kills_the_version(ledger: Ledger, cfg: config.Config) -> None:
    for version, event, env, details in STORY[5:13]:
        ledger.record(version, event, env, context(), details=details)
    journey = journey_of(ledger, "1.0.1")

    assert not journey.alive
    assert journey.death is not None and journey.death.event == "rejected"
    message = refused(cfg, journey, "prod")
    assert "v1.0.1 is dead: rejected in uat at" in message
    assert "by manager (Biz Logic Error)" in message
    assert "is dead" in refused(cfg, journey, "dev")


def test_a_gated_environment_needs_an_approval(ledger: Ledger, cfg: config.Config) -> None:
    ledger.record("1.0.0", "built", None, context(), details=MAKERS)
    for env in ("dev", "qa"):
        ledger.record("1.0.0", "deployed", env, context())
        ledger.record("1.0.0", "smoke_passed", env, context())

    message = refused(cfg, journey_of(ledger, "1.0.0"), "uat")
    assert "v1.0.0 has not been approved for uat, which is gated" in message
    assert "one of qa-lead" in message and "the gate workflow (vault-gate.yml) for uat v1.0.0" in message

    ledger.record("1.0.0", "approved", "uat", context(), details={"by": "QA-Lead"})
    check_promotion(cfg, journey_of(ledger, "1.0.0"), cfg.environment("uat"))


def test_an_approval_by_a_non_approver_is_refused(ledger: Ledger, cfg: config.Config) -> None:
    for event, env in (("deployed", "dev"), ("smoke_passed", "dev"),
                       ("deployed", "qa"), ("smoke_passed", "qa")):
        ledger.record("1.0.0", event, env, context())
    ledger.record("1.0.0", "approved", "uat", context("intern"))  # no "by": the actor decided

    message = refused(cfg, journey_of(ledger, "1.0.0"), "uat")
    assert "approved for uat only by intern, who may not approve it (approvers: qa-lead)" in (
        message
    )


def test_an_environment_without_smoke_counts_as_passed_once_deployed(
    ledger: Ledger, cfg: config.Config
) -> None:
    for version, event, env, details in STORY[13:21]:  # v1.0.2 up to its prod approval
        ledger.record(version, event, env, context(), details=details)
    journey = journey_of(ledger, "1.0.2")
    assert not journey.passed("uat")  # uat has no smoke settings and no smoke event

    check_promotion(cfg, journey, cfg.environment("prod"))
    assert "has never been deployed to prod" in refused(cfg, journey, "dr")


def test_dr_takes_only_what_passed_prod(ledger: Ledger, cfg: config.Config) -> None:
    record_story(ledger)
    check_promotion(cfg, journey_of(ledger, "1.0.2"), cfg.environment("dr"))

    ledger.record("1.0.3", "deployed", "prod", context())
    message = refused(cfg, journey_of(ledger, "1.0.3"), "dr")
    assert "has not passed its smoke test; dr only takes versions that passed prod" in message


def test_a_team_reviewed_github_gate_counts_a_cli_approval_by_a_stranger_does_not(ledger: Ledger, tmp_path: Path) -> None:
    from vault_actions.config import Environment, Gate
    from vault_actions.promotion.policy import check_approval
    from vault_actions.store.ledger import GITHUB_GATE

    env = Environment("uat", "us-east-1", "b", {"a": "a-uat"}, gate=Gate(("qa-lead",), ("qa",)))
    ledger.record("1.0.0", "built", None, context(), details=MAKERS)
    ledger.record("1.0.0", "approved", "uat", context(), details={"by": "qa-member"})
    with pytest.raises(PromotionRefused, match="only by qa-member"):
        check_approval(journey_of(ledger, "1.0.0"), env)
    ledger.record("1.0.0", "approved", "uat", context(), details={"by": "qa-member", "source": GITHUB_GATE})
    check_approval(journey_of(ledger, "1.0.0"), env)


def test_a_teams_only_gate_is_approved_only_through_github(ledger: Ledger, tmp_path: Path) -> None:
    from vault_actions.promotion.gates import check_can_approve

    teams_only = VAULT_YML.replace("gate: {{approvers: [qa-lead]}}", "gate: {{teams: [qa]}}")
    cfg = config.parse(yaml.safe_load(teams_only.format(bucket="vault-b", dr_bucket="vault-b-dr")), tmp_path / "vault.yml")
    for step in ("dev", "qa"):
        ledger.record("1.0.0", "deployed", step, context())
        ledger.record("1.0.0", "smoke_passed", step, context())
    with pytest.raises(PromotionRefused, match="names no approvers, only teams"):
        check_can_approve(cfg, journey_of(ledger, "1.0.0"), cfg.environment("uat"), "anyone")


# --- issue 10: what a role with plain S3 writes cannot make the ledger say ------------


def test_rewriting_a_smoke_failed_event_does_not_bring_the_version_back(ledger: Ledger) -> None:
    """Finding 4: a plain put_object over the smoke_failed event (a second S3 version of
    its key, which put-once never makes) changes nothing: reads take the first version."""
    ledger.record("1.0.0", "deployed", "qa", context())
    death = ledger.record("1.0.0", "smoke_failed", "qa", context(), details={"reason": "500"})
    key = ledger.event_key(death)
    forged = {**death.to_json(), "event": "smoke_passed", "details": {}}
    ledger.s3.put_object(Bucket=ledger.bucket, Key=key, Body=json.dumps(forged).encode())

    journey = journey_of(ledger, "1.0.0")

    assert journey.death == death and not journey.passed("qa")
    assert Vault(ledger.s3, ledger.bucket).rewritten("ledger/v1.0.0/") == {key: 2}


# --- issue 12: a read lists no object versions unless bytes differ ------------------


def test_a_version_is_read_with_one_listing_and_no_object_versions(ledger: Ledger) -> None:
    """Finding (scale): ListObjectVersions costs the whole bucket's versions (10 s per call
    on moto at 5,000 releases): an event's key names its SHA-256, so a read lists the
    version's folder with ListObjectsV2 and hashes what it gets."""
    for event, env in (("deployed", "dev"), ("smoke_passed", "dev"), ("deployed", "qa")):
        ledger.record("1.0.0", event, env, context())
    calls = Requests(ledger.s3)

    assert [e.event for e in ledger.events("1.0.0")] == ["deployed", "smoke_passed", "deployed"]
    assert not [c for c in calls.calls if "versions" in c]
    assert len([c for c in calls.calls if "list-type=2" in c]) == 1


def test_bytes_that_differ_from_their_keys_digest_send_the_read_to_the_first_version(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """An overwrite behind put-once's back is found by its hash: only that key's versions
    are listed, and its first version counts."""
    death = ledger.record("1.0.0", "smoke_failed", "qa", context(), details={"reason": "500"})
    key = ledger.event_key(death)
    ledger.s3.put_object(Bucket=ledger.bucket, Key=key, Body=b'{"event": "smoke_passed"}')
    calls = Requests(ledger.s3)

    assert ledger.events("1.0.0") == [death]
    assert [c for c in calls.calls if "versions" in c] == [
        f"GET {ledger.s3.meta.endpoint_url}/{ledger.bucket}?versions&prefix="
        + key.replace("/", "%2F") + "&encoding-type=url"]
    assert "has more than one S3 version: only its first counts" in caplog.text


def test_a_key_whose_digest_no_version_matches_is_not_an_event(ledger: Ledger) -> None:
    """A forger who names a digest must hold those bytes: another body at that name is
    skipped, never read as the event the name claims."""
    event = ledger.record("1.0.0", "deployed", "qa", context())
    forged = json.dumps({**event.to_json(), "event": "smoke_passed"}).encode()
    wrong = ledger.event_key(event).replace(f"/qa/{event.id}.", f"/qa/{event.id[:-1]}f.")
    ledger.s3.put_object(Bucket=ledger.bucket, Key=wrong, Body=forged)

    scan = ledger.scan("1.0.0")
    assert scan.events == [event]
    assert [s.key for s in scan.skipped] == [wrong]
    assert "does not hold the bytes whose SHA-256 its name holds" in scan.skipped[0].problem


def test_events_written_before_digests_are_read_by_their_first_version(ledger: Ledger) -> None:
    """A ledger from before this layout (``<id>.json``) still reads whole: its folders'
    versions are listed, and an overwrite of such a key still changes nothing."""
    event = ledger.record("1.0.0", "smoke_failed", "qa", context())
    old = f"ledger/v1.0.0/qa/{event.id}.json"
    newer = ledger.record("1.0.0", "approved", "qa", context(), details={"by": "qa-lead"})
    for key in (old, ledger.event_key(newer)):
        body = ledger.s3.get_object(Bucket=ledger.bucket, Key=ledger.event_key(
            event if key == old else newer))["Body"].read()
        ledger.s3.put_object(Bucket=ledger.bucket, Key=key, Body=body)
    ledger.s3.put_object(Bucket=ledger.bucket, Key=old, Body=json.dumps(
        {**event.to_json(), "event": "smoke_passed"}).encode())

    assert ledger.events("1.0.0") == [event, newer]  # the copy of each counts once


def test_an_event_is_named_in_the_feed_first_and_a_refusal_loses_nothing(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The feed entry goes first (no event lacks it); a role of an older vault stack that
    may not put it is warned, and its event is still written."""
    event = ledger.record("1.0.0", "deployed", "qa", context())
    entry = ledger.s3.head_object(Bucket=ledger.bucket, Key=ledger.entry_key(event))
    assert entry["ContentLength"] == 0 and ledger.feed.parse(ledger.entry_key(event))

    def refused(key: str, body: bytes) -> None:
        raise VaultError(f"access denied: writing s3://{ledger.bucket}/{key}", "grant it")

    monkeypatch.setattr(ledger.feed, "put", refused)
    later = ledger.record("1.0.0", "smoke_passed", "qa", context())
    assert ledger.events("1.0.0") == [event, later]
    assert "status may see this event only after a later summary" in caplog.text


def test_events_live_in_their_writers_folder(ledger: Ledger) -> None:
    """Finding 3's second wall: each job writes under ledger/vX/<job>/ (IAM scopes its
    role to that folder); what a folder's job never records is not an event."""
    store = {"gate": ledger.record("1.0.0", "approved", "uat", context(), writer="gate"),
             "qa": ledger.record("1.0.0", "smoke_passed", "qa", context()),
             "build": ledger.record("1.0.0", "cancelled", "uat", context(), writer="build")}
    for writer, event in store.items():
        key = ledger.event_key(event)
        assert key.startswith(f"ledger/v1.0.0/{writer}/")
        assert ledger.s3.head_object(Bucket=ledger.bucket, Key=key)
    with pytest.raises(ValueError, match="the dev job does not record approved in prod"):
        ledger.record("1.0.0", "approved", "prod", context(), writer="dev")

    # With the dev role (which may write only ledger/v*/dev/*), claim prod was approved.
    clock = Clock()
    at = clock()
    forged = Event(id=f"{at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}", version="1.0.0",
                   event="approved", environment="prod", at=at.isoformat(), actor="dev-bot",
                   commit=None, run_url=None, details={"by": "manager"}, writer="dev")
    body = json.dumps(forged.to_json()).encode()
    ledger.s3.put_object(Bucket=ledger.bucket, Key=ledger.key("1.0.0", "dev", forged.id, body),
                         Body=body)
    scan = ledger.scan("1.0.0")
    assert forged.id not in {e.id for e in scan.events}
    [skipped] = scan.skipped
    assert "says the dev job recorded approved in prod, which that job never records" in (
        skipped.problem
    )
