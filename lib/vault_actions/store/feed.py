"""The ledger's feed: a put-once name for every event, newest first, and the summaries.

``ledger/_index/feed/<YYYYMM>/<inverted time>_e_<version>_<writer>_<id>.<sha256>`` is an
empty object written just before the event it names (``Ledger.record``), so one listing of
a month's folder gives that month's newest events first. Summaries (``promotion.summary``)
lie among them as ``<inverted time>_s_<uuid>.<sha256>.json``. The feed is derived and
never believed over the events: an entry only says where to read; the event is read from
its own key and judged. ``vault ledger reindex`` adds the entries an event lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vault_actions.errors import VaultError
from vault_actions.store.index import INDEX, inverted, uninverted
from vault_actions.store.vault import Vault, b64_sha256

FEED = f"{INDEX}feed/"
EVENT, SUMMARY = "e", "s"
FOREIGN_ENTRY = "feed entries are written only by vault-actions with their event or summary"
_NAME = re.compile(
    r"(?P<stamp>\d{17})_(?:e_(?P<version>[^_/]+)_(?P<writer>[a-z0-9-]+)_(?P<id>[^_./]+)"
    r"\.(?P<digest>[0-9a-f]{64})|s_(?P<uuid>[0-9a-f]{32})\.(?P<sdigest>[0-9a-f]{64})\.json)")


@dataclass(frozen=True)
class Entry:
    """One feed entry: when, and the event (version, writer, id, digest) or the summary
    (id, digest) it names."""

    key: str
    moment: datetime
    kind: str
    digest: str
    version: str = ""
    writer: str = ""
    event_id: str = ""


def month(moment: datetime) -> str:
    """A month's folder name: ``202612``."""
    return f"{moment.astimezone(UTC):%Y%m}"


class Feed:
    """The feed of one ledger (``prefix`` is the ledger's, e.g. ``ledger/``)."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = f"{prefix}{FEED}"
        self._store = Vault(s3, bucket)

    def event_key(self, moment: datetime, version: str, writer: str, event_id: str,
                  digest: str) -> str:
        """The entry that names one event (``digest``: of its stored bytes, hex)."""
        return (f"{self.prefix}{month(moment)}/{inverted(moment)}_{EVENT}_{version}_{writer}_"
                f"{event_id}.{digest}")

    def summary_key(self, moment: datetime, uid: str, digest: str) -> str:
        """Where a summary written at ``moment`` lies."""
        return f"{self.prefix}{month(moment)}/{inverted(moment)}_{SUMMARY}_{uid}.{digest}.json"

    def put(self, key: str, body: bytes) -> None:
        """Put-once (the same bytes again are success: retries and reindex are safe)."""
        taken = VaultError(f"{self._store.uri(key)} already holds another entry", FOREIGN_ENTRY)
        self._store.put_once(key, body, b64_sha256(body), taken)

    def parse(self, key: str) -> Entry | None:
        """The entry a key names (None when it is not an entry's name)."""
        rest = key.removeprefix(self.prefix)
        folder, _, name = rest.partition("/")
        found = _NAME.fullmatch(name)
        if rest == key or found is None:
            return None
        moment = uninverted(found["stamp"])
        if folder != month(moment):  # an entry lies in its own month's folder
            return None
        if found["uuid"]:
            return Entry(key, moment, SUMMARY, found["sdigest"], event_id=found["uuid"])
        return Entry(key, moment, EVENT, found["digest"], found["version"], found["writer"],
                     found["id"])

    def months(self, now: datetime, count: int) -> list[str]:
        """The folders of the ``count`` months up to ``now``'s, newest first."""
        folders, moment = [], now
        for _ in range(count):
            folders.append(f"{self.prefix}{month(moment)}/")
            moment = moment.replace(day=1) - timedelta(days=1)
        return folders

    def listed(self, folder: str) -> Iterator[str]:
        """Every key under ``folder`` (a month's: newest first): one listing per 1,000
        keys, asked for only as the caller walks on."""
        return self._store.keys(folder)

    def keys(self) -> Iterator[str]:
        """Every entry's key (and every summary's), month by month."""
        return self.listed(self.prefix)

    def body(self, key: str) -> bytes:
        """A summary's stored bytes."""
        from botocore.exceptions import ClientError

        try:
            raw: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise self._store.explain(exc, "reading", key) from None
        return raw
