"""Catalogue blocks: where a version lies, names nobody can take first, and a block whose
bytes are not the ones named is not believed (on a moto server)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import make_vault_bucket
from vault_actions.store.catalogue import block, names
from vault_actions.store.ledger import Ledger


def test_a_version_and_its_pre_releases_lie_in_one_block() -> None:
    assert [block(v) for v in ("1.2.345", "1.2.345-rc.1", "1.2.399", "1.2.400", "0.0.7")] == [
        "1.2.3", "1.2.3", "1.2.3", "1.2.4", "0.0.0"]


def test_a_folder_with_anything_but_digest_named_events_is_listed() -> None:
    folder, digest = "ledger/v1.0.0/", "a" * 64
    event = f"{folder}dev/20260101T000000000000Z-{'0' * 32}.{digest}.json"
    assert names(folder, [event]) == [event.removeprefix(folder)]
    assert names(folder, [event, f"{folder}dev/20260101T000000000000Z-x.json"]) is None


def test_a_block_name_cannot_be_foreseen_and_a_rewritten_block_is_not_believed(
    s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding (review): a block named by its content alone could be taken first, with
    other bytes, by any role that may write the feed (every summary would then fail)."""
    book = Ledger(s3, make_vault_bucket(s3, f"catalogue-{uuid.uuid4().hex[:12]}"))
    content = {"1.0.0": ["dev/x.json"]}
    first, second = book.catalogue.put(content), book.catalogue.put(content)
    assert first != second and book.catalogue.read(first) == content
    s3.put_object(Bucket=book.bucket, Key=f"{book.catalogue.prefix}{first}.json", Body=b"{}")
    assert book.catalogue.read(first) is None and "is not believed" in caplog.text
    assert book.catalogue.read("../x") is None


def test_each_window_reads_the_next_whole_folders_and_all_in_turn(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record job reads one listing page of folders again per run: only folders the
    page holds whole, the next run after the last, and from the start once it ends."""
    from tests.ledger_seed import seed
    from vault_actions.store import ledger as ledgers

    book = Ledger(s3, make_vault_bucket(s3, f"window-{uuid.uuid4().hex[:12]}"))
    seed(book, 3, index=False)
    monkeypatch.setattr(ledgers, "WINDOW", 12)  # a folder and a half of 8 events each
    seen, after = [], ""
    for _ in range(3):
        found, after = book.window(after)
        seen += [(v, len(n or [])) for v, n in found.items()]
    assert (seen, after) == ([("1.0.0", 8), ("1.0.1", 8), ("1.0.2", 8)], "")
    monkeypatch.setattr(ledgers, "WINDOW", 5)  # one folder is more than a page
    assert book.window("") == ({"1.0.0": None}, "ledger/v1.0.0/")
