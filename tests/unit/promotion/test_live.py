"""What is live where, from the live index: constant requests, and never believed over the
events (a pointer to a rolled-back version, a forged pointer, a missing index)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import make_vault_bucket
from tests.ledger_seed import JOURNEY, START, Requests, seed, version
from tests.unit.store.test_ledger import STORY, VAULT_YML, Clock, context
from vault_actions import cli, config
from vault_actions.integrations import aws
from vault_actions.promotion import summary
from vault_actions.promotion.journey import live_versions
from vault_actions.promotion.live import Reader
from vault_actions.store.feed import month
from vault_actions.store.ledger import EVENTS, Ledger, batches

ENVS = ("dev", "qa", "uat", "prod", "dr")
RELEASES = 60  # three times what status shows by default


def local_config() -> config.Config:
    """The test vault.yml whose ledger counts events recorded from a terminal (break-glass)."""
    raw = yaml.safe_load(VAULT_YML.format(bucket="vault-live", dr_bucket="vault-live-dr"))
    raw["ledger"] = {"allow-local": list(EVENTS), "repository": "acme/shop"}
    return config.parse(raw, Path("/repo/vault.yml"))


CFG = local_config()


def reader(ledger: Ledger) -> Reader:
    return Reader(CFG, ledger)


@pytest.fixture
def aws_env(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """conftest's, without the reset: the seeded ledger stays for the whole module (every
    test here uses buckets of its own)."""
    from tests.conftest import point_at

    return point_at(moto_server, monkeypatch)


@pytest.fixture
def ledger(s3: Any) -> Ledger:
    return Ledger(s3, make_vault_bucket(s3, f"live-{uuid.uuid4().hex[:12]}"), clock=Clock())


@pytest.fixture(scope="module")
def seeded(moto_server: Any) -> Ledger:
    """RELEASES releases × 8 events, with their live pointers (seeded once for the module)."""
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
        s3.put_object(Bucket=bucket, Key=copy.event_key(event),
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


# ---------------------------------------------------------------- the commands, counted


class Counted:
    """Every S3 request of every client the commands make (``aws.client`` wrapped)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from vault_actions.integrations import aws

        self.urls: list[str] = []
        made = aws.client

        def client(service: str, *args: Any, **kwargs: Any) -> Any:
            found = made(service, *args, **kwargs)
            if service == "s3":
                found.meta.events.register("before-send.s3.*", self._count)
            return found

        monkeypatch.setattr(aws, "client", client)

    def _count(self, request: Any, **_: Any) -> None:
        self.urls.append(request.url)

    def events_read(self) -> set[str]:
        """The versions whose events were read (GET ledger/v<version>/<id>.json)."""
        from urllib.parse import unquote, urlsplit

        paths = [unquote(urlsplit(u).path) for u in self.urls]
        return {p.split("/ledger/v", 1)[1].split("/", 1)[0] for p in paths
                if "/ledger/v" in p and p.endswith(".json")}


def seeded_config(tmp_path: Path, book: Ledger) -> str:
    raw = yaml.safe_load(VAULT_YML.format(bucket=book.bucket, dr_bucket=f"{book.bucket}-dr"))
    raw["ledger"] = {"allow-local": list(EVENTS), "repository": "acme/shop"}
    path = tmp_path / "vault.yml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def run_json(capsys: Any, *argv: str) -> Any:
    capsys.readouterr()
    code = cli.main([*argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_status_limit_5_reads_only_5_versions_events(
    seeded: Ledger, aws_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    counted = Counted(monkeypatch)
    data = run_json(capsys, "status", "--config", seeded_config(tmp_path, seeded), "--limit", "5")
    newest = [version(n) for n in range(RELEASES - 5, RELEASES)]
    assert [v["version"] for v in data["versions"]] == newest
    assert [v["attempt"] for v in data["versions"]] == list(range(RELEASES - 4, RELEASES + 1))
    assert data["live"]["prod"] == newest[-1] and data["dr_lag"] == []
    assert counted.events_read() == set(newest)


def test_status_of_one_version_reads_that_version(
    seeded: Ledger, aws_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    counted = Counted(monkeypatch)
    data = run_json(capsys, "status", "--config", seeded_config(tmp_path, seeded),
                    "--version", version(7))
    assert [v["version"] for v in data["versions"]] == [version(7)]
    # its own events, and the live version's (to check the pointers of every environment)
    assert counted.events_read() == {version(7), version(RELEASES - 1)}


def test_graveyard_default_limit_and_since(
    seeded: Ledger, aws_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    path = seeded_config(tmp_path, seeded)
    counted = Counted(monkeypatch)
    data = run_json(capsys, "graveyard", "--config", path, "--format", "json")
    assert len(data["versions"]) == 20 and len(counted.events_read()) == 20
    assert data["versions"][0]["attempt"] == RELEASES - 19
    # release n's events are at START + 8n+1 … 8n+8 minutes: since the 10th newest's first
    since = (START + timedelta(minutes=8 * (RELEASES - 10) + 1)).isoformat()
    data = run_json(capsys, "graveyard", "--config", path, "--format", "json",
                    "--since", since, "--limit", "0")
    assert [v["version"] for v in data["versions"]] == [version(n) for n in range(RELEASES - 10, RELEASES)]


def test_status_lists_neighbouring_versions_together(
    seeded: Ledger, aws_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Each listing costs the whole bucket on moto (about 0.1 s at 5,000 releases): the
    20 shown versions' folders are listed under the prefixes they share (v1.0.4 holds
    v1.0.40-49), not one by one, and no listing asks for object versions."""
    counted = Counted(monkeypatch)
    data = run_json(capsys, "status", "--config", seeded_config(tmp_path, seeded))
    assert len(data["versions"]) == 20 and counted.events_read() == {
        version(n) for n in range(RELEASES - 20, RELEASES)}
    listings = [u for u in counted.urls if "list-type=2" in u or "?versions" in u]
    assert not [u for u in listings if "?versions" in u]
    # the feed's three newest months (no summary there); the folders; v1.0. (v1.0.40-59,
    # and 40 others: within BATCH_SPARE); one per environment's live pointers
    assert len(listings) == summary.MONTHS + 1 + 1 + 5, listings


def test_status_from_a_summary_costs_two_requests_whatever_the_history(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Finding (scale, done when): status read 20 versions' folders (one listing each on
    moto costs the whole bucket) and 160 events; from the record job's summary it lists
    the feed's month and reads the summary, whatever the history (here 45 releases, more
    than the 40 versions a summary holds), and shows the same."""
    book = Ledger(s3, make_vault_bucket(s3, f"summed-{uuid.uuid4().hex[:12]}"))
    seed(book, 45)
    path = seeded_config(tmp_path, book)
    raw = yaml.safe_load(Path(path).read_text())
    raw["ledger"]["allow-local"].append("summary")
    Path(path).write_text(yaml.safe_dump(raw))
    before = run_json(capsys, "status", "--config", path, "--limit", "30")
    Reader(config.load(path), book).summarise(context())

    counted = Counted(monkeypatch)
    after = run_json(capsys, "status", "--config", path, "--limit", "30")
    assert after == before
    assert len(counted.urls) == 2, counted.urls  # the feed's month, the summary
    graveyard = run_json(capsys, "graveyard", "--config", path, "--format", "json")
    assert len(graveyard["versions"]) == 20 and len(counted.urls) == 4


def summed(s3: Any, tmp_path: Path, releases: int) -> tuple[Ledger, str]:
    """A seeded ledger whose vault.yml lets a local summary count."""
    book = Ledger(s3, make_vault_bucket(s3, f"summed-{uuid.uuid4().hex[:12]}"))
    seed(book, releases)
    path = seeded_config(tmp_path, book)
    raw = yaml.safe_load(Path(path).read_text())
    raw["ledger"]["allow-local"].append("summary")
    Path(path).write_text(yaml.safe_dump(raw))
    return book, path


def feed_months() -> int:
    """The feed months a reader lists: this one (and the one before in its first minutes)."""
    now = datetime.now(UTC)
    return 1 + (month(now - summary.MARGIN) != month(now))


def test_status_of_one_version_reads_its_events_by_the_catalogue_whatever_the_history(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Finding (scale, done when): `status --version X` listed X's folder besides the
    feed (on moto each listing costs the whole bucket: 1.34 s at 5,000 releases). From
    the summary's catalogue it lists only the feed's month, reads the summary and the
    catalogue block, then X's 8 events, each from its own key, and shows the same."""
    book, path = summed(s3, tmp_path, 45)
    middle = version(20)
    before = run_json(capsys, "status", "--config", path, "--version", middle)
    Reader(config.load(path), book).summarise(context())

    counted = Counted(monkeypatch)
    assert run_json(capsys, "status", "--config", path, "--version", middle) == before
    assert not [u for u in counted.urls if f"v{middle}%2F" in u or "list-type=2&prefix=ledger"
                "%2Fv" in u], counted.urls
    assert len(counted.urls) == feed_months() + 1 + 1 + len(JOURNEY), counted.urls


def test_the_record_jobs_summary_extends_the_last_one_whatever_the_history(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Finding (scale: the record step reads a constant number of objects): the record
    job's summary listed every version's folder; now it extends the newest summary with
    the feed since (here a release and an event of an old version) and rewrites only the
    catalogue block they touch, and status shows what the folders show."""
    book, path = summed(s3, tmp_path, 45)
    cfg = config.load(path)
    Reader(cfg, book).summarise(context())
    new, old = version(45), version(3)
    for name, env in JOURNEY:
        book.record(new, name, env, context())
    book.record(old, "smoke_passed", "uat", context())
    folders = run_json(capsys, "status", "--config", path, "--limit", "30")
    most = summary.MAX_SINCE
    monkeypatch.setattr(summary, "MAX_SINCE", 0)  # status reads the folders, not the feed
    assert run_json(capsys, "status", "--config", path, "--limit", "30") == folders
    monkeypatch.setattr(summary, "MAX_SINCE", most)

    counted = Counted(monkeypatch)
    key = Reader(cfg, Ledger(aws.client("s3"), book.bucket)).summarise(context())
    # no listing of every folder or version: the feed's month, the kept versions' folders
    # (v1.0.0-9 and v1.0.6-45 by their shared prefixes) and the block rebuilt this run
    listings = [u for u in counted.urls if "list-type=2" in u]
    assert key is not None and not [u for u in listings if "delimiter" in u
                                    or u.endswith("prefix=ledger%2Fv&encoding-type=url")]
    assert len(listings) <= feed_months() + 4, listings
    assert len(counted.urls) - len(listings) <= (summary.KEEP + 1) * len(JOURNEY) + 9 + 3

    monkeypatch.setattr(summary, "MARGIN", timedelta(0))  # nothing before it is re-read
    state = Reader(cfg, book, summary=True).state()
    assert state is not None and state.summary == key and state.since == []
    assert run_json(capsys, "status", "--config", path, "--limit", "30") == folders
    keys = state.keys(book, old, state.block(book, old))
    assert keys is not None and sorted(keys) == sorted(map(book.event_key, book.events(old)))


def test_a_batch_prefix_covers_only_neighbours_with_few_others() -> None:
    folders = sorted(f"ledger/v1.0.{n}/" for n in range(200))
    wanted = sorted(f"ledger/v1.0.{n}/" for n in range(180, 200))
    assert batches(wanted, folders, len("ledger/")) == ["ledger/v1.0.18", "ledger/v1.0.19"]
    assert batches(wanted, folders, len("ledger/"), spare=5) == wanted  # v1.0.18 holds 11
    assert batches(wanted, [], len("ledger/")) == wanted  # nothing listed: one by one
    assert batches(["ledger/v1.0.0/", "ledger/v2.0.0/"], [*folders, "ledger/v2.0.0/"],
                   len("ledger/")) == ["ledger/v1.0.0/", "ledger/v2.0.0/"]


def test_reindex_adds_what_is_missing_once_and_doctor_and_verify_say_so(
    s3: Any, tmp_path: Path, capsys: Any
) -> None:
    book = Ledger(s3, make_vault_bucket(s3, f"reindex-{uuid.uuid4().hex[:12]}"))
    seed(book, 3, index=False)
    path = seeded_config(tmp_path, book)
    assert cli.main(["ledger", "reindex", "--config", path, "--json"]) == 0
    added = json.loads(capsys.readouterr().out)["added"]
    assert len(added) == 3 * 5  # deployed dev, qa, uat, prod and dr_synced per release
    assert run_json(capsys, "ledger", "reindex", "--config", path)["added"] == []
    assert cli.main(["ledger", "check", "--config", path]) == 0
    live = reader(book).live("prod")
    assert (live.version, live.indexed) == (version(2), True)

    s3.put_object(Bucket=book.bucket, Key=book.index.key("prod", START.replace(year=2031),
                  "1.0.0", "20310101T000000000000Z-" + "0" * 32), Body=b"{}")
    capsys.readouterr()
    assert cli.main(["ledger", "check", "--config", path]) == 4
    assert "1 pointer(s) name no event that counts" in capsys.readouterr().out
    cli.main(["verify", "--config", path, "--json"])  # 4: local events are not proven
    verified = json.loads(capsys.readouterr().out)
    assert verified["index"]["ok"] is False and len(verified["index"]["unfounded"]) == 1
