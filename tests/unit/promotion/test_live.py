"""What is live where, from the live index: constant requests, and never believed over the
events (a pointer to a rolled-back version, a forged pointer, a missing index)."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import make_vault_bucket
from tests.ledger_seed import JOURNEY, Requests, seed, version
from tests.unit.store.test_ledger import STORY, VAULT_YML, Clock, context
from vault_actions import config
from vault_actions.promotion.journey import live_versions
from vault_actions.promotion.live import Reader
from vault_actions.store.ledger import EVENTS, Ledger

ENVS = ("dev", "qa", "uat", "prod", "dr")
RELEASES = 300


def local_config() -> config.Config:
    """The test vault.yml whose ledger counts events recorded from a terminal (break-glass)."""
    raw = yaml.safe_load(VAULT_YML.format(bucket="vault-live", dr_bucket="vault-live-dr"))
    raw["ledger"] = {"allow-local": list(EVENTS), "repository": "acme/shop"}
    return config.parse(raw, Path("/repo/vault.yml"))


CFG = local_config()


def reader(ledger: Ledger) -> Reader:
    return Reader(CFG, ledger)


@pytest.fixture
def ledger(s3: Any) -> Ledger:
    return Ledger(s3, make_vault_bucket(s3, f"live-{uuid.uuid4().hex[:12]}"), clock=Clock())


@pytest.fixture(scope="module")
def seeded(moto_server: Any) -> Ledger:
    """300 releases × 8 events, with their live pointers (seeded once for the module)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server.url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    book = Ledger(s3, make_vault_bucket(s3, f"seeded-{uuid.uuid4().hex[:12]}"))
    seed(book, RELEASES)
    return book


def test_the_index_agrees_with_a_full_scan(ledger: Ledger) -> None:
    for v, event, env, details in STORY:
        ledger.record(v, event, env, context(), details=details)
    found = reader(ledger)
    assert found.live_map(ENVS) == live_versions(ledger.events())
    assert all(found.live(env).indexed for env in ENVS)


def test_a_scan_skips_the_index(ledger: Ledger) -> None:
    ledger.record("1.0.0", "deployed", "dev", context())
    scan = ledger.scan()
    assert [e.event for e in scan.events] == ["deployed"] and scan.skipped == []


def test_live_costs_the_versions_events_plus_three_requests(seeded: Ledger) -> None:
    requests = Requests(seeded.s3)
    live = reader(seeded).live("prod")
    assert live.version == version(RELEASES - 1) and live.indexed and not live.doubts
    # one list of pointers, one pointer, one list of the version's events, its 8 events
    assert requests.reset() <= len(JOURNEY) + 3


def test_versions_are_listed_without_reading_events(seeded: Ledger) -> None:
    requests = Requests(seeded.s3)
    versions = seeded.versions()
    assert versions[:2] == [version(RELEASES - 1), version(RELEASES - 2)]
    assert len(versions) == RELEASES and requests.reset() == 1


def test_a_pointer_to_a_version_rolled_back_since_is_walked_past(ledger: Ledger) -> None:
    ledger.record("1.0.0", "deployed", "prod", context())
    ledger.record("1.0.1", "deployed", "prod", context())
    ledger.record("1.0.1", "rolled_back", "prod", context())
    live = reader(ledger).live("prod")
    assert (live.version, live.indexed, live.doubts) == ("1.0.0", True, ())


def test_a_forged_pointer_is_never_believed(ledger: Ledger, caplog: Any) -> None:
    old = ledger.record("1.0.0", "deployed", "prod", context())
    new = ledger.record("1.0.1", "deployed", "prod", context())
    later = new.time.replace(year=2030)
    forged = {
        # a real event of the old version, under a newer time (a plain put_object)
        ledger.index.key("prod", later, "1.0.0", old.id): ledger.body(old),
        # an event that does not exist
        ledger.index.key("prod", later, "1.0.0", "20300101T000000000000Z-" + "0" * 32):
            ledger.body(old),
    }
    s3: Any = ledger.s3
    for name, body in forged.items():
        s3.put_object(Bucket=ledger.bucket, Key=name, Body=body)
    caplog.set_level(logging.WARNING)
    live = reader(ledger).live("prod")
    assert (live.version, live.indexed) == ("1.0.1", True)
    assert len(live.doubts) == 2 and "which its events do not hold" in " ".join(live.doubts)
    assert "is not believed" in caplog.text


def test_a_pointer_whose_bytes_differ_from_its_event_is_not_believed(ledger: Ledger) -> None:
    ledger.record("1.0.0", "deployed", "prod", context())
    ledger.record("1.0.1", "deployed", "prod", context())
    s3: Any = ledger.s3
    bucket = make_vault_bucket(s3, f"copy-{uuid.uuid4().hex[:12]}", lock=False)
    copy = Ledger(s3, bucket)
    for event in ledger.events():
        s3.put_object(Bucket=bucket, Key=copy.key(event.version, event.id),
                      Body=ledger.body(event))
        body = json.loads(ledger.body(event))
        if event.version == "1.0.1":
            body["details"] = {"forged": True}
        pointer = copy.pointer_key(event)
        assert pointer is not None
        s3.put_object(Bucket=bucket, Key=pointer, Body=json.dumps(body).encode())
    live = reader(copy).live("prod")
    assert (live.version, live.indexed) == ("1.0.0", True)
    assert "differs from the event it names" in live.doubts[0]


def test_a_missing_index_falls_back_to_a_scan_and_says_so(s3: Any, caplog: Any) -> None:
    book = Ledger(s3, make_vault_bucket(s3, f"noindex-{uuid.uuid4().hex[:12]}"))
    seed(book, 3, index=False)
    caplog.set_level(logging.WARNING)
    live = reader(book).live("prod")
    assert (live.version, live.indexed) == (version(2), False)
    assert "it has no pointer; reading the whole ledger instead" in caplog.text
    assert "vault ledger reindex" in caplog.text


def test_a_rollback_of_every_pointed_version_falls_back_to_the_scan(ledger: Ledger) -> None:
    for patch in range(3):
        ledger.record(f"1.0.{patch}", "deployed", "qa", context())
        ledger.record(f"1.0.{patch}", "rolled_back", "qa", context())
    live = reader(ledger).live("qa")
    assert (live.version, live.indexed) == (None, False)


def test_a_pointer_to_an_event_that_does_not_count_is_not_believed(ledger: Ledger) -> None:
    ledger.record("1.0.0", "deployed", "prod", context())  # local, and not allowed below
    strict = config.parse({**yaml.safe_load(VAULT_YML.format(
        bucket="vault-live", dr_bucket="vault-live-dr")), "ledger": {"repository": "acme/shop"}},
        Path("/repo/vault.yml"))
    live = Reader(strict, ledger).live("prod")
    assert (live.version, live.indexed) == (None, False)
    assert "which its events do not hold (missing, or it does not count)" in live.doubts[0]
