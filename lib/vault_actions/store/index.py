"""The live index: per environment, a put-once pointer to each event that put a version live.

``ledger/_index/live/<env>/<inverted-time>_<version>_<event id>.json`` holds a byte-for-byte
copy of a ``deployed`` or ``dr_synced`` event (so it carries that event's proof), written
just before the event itself. Inverted time makes one ListObjectsV2 with a small MaxKeys
return an environment's newest pointers first. The index is derived and never believed
over the events: a reader (``promotion.live``) checks each pointer against its version's
events and walks on, or falls back to a scan, when a pointer names no such event, differs
from it, or its version was rolled back there since. ``vault ledger reindex`` rebuilds it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vault_actions.errors import VaultError
from vault_actions.store.vault import Vault, b64_sha256

log = logging.getLogger(__name__)

INDEX = "_index/"
LIVE = f"{INDEX}live/"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INVERT = 10**17  # microseconds since the epoch stay below this until the year 5138
FOREIGN_POINTER = "live pointers are written only by vault-actions with their event; " \
                  "run `vault ledger reindex` and check who wrote this object"


def inverted(moment: datetime) -> str:
    """``moment`` as 17 digits that sort newest first."""
    micros = (moment - _EPOCH) // _EPOCH.resolution
    return f"{_INVERT - micros:017d}"


def uninverted(stamp: str) -> datetime:
    """The moment 17 :func:`inverted` digits stand for."""
    return _EPOCH + (_INVERT - int(stamp)) * _EPOCH.resolution


@dataclass(frozen=True)
class Pointer:
    """A pointer's name: which event of which version it claims put that version live."""

    key: str
    environment: str
    stamp: str
    version: str
    event_id: str

    def names(self, environment: str | None, moment: datetime, event_id: str) -> bool:
        """True when this is the name the index gives that event."""
        return (self.environment, self.stamp, self.event_id) == (
            environment, inverted(moment), event_id)


class LiveIndex:
    """The live pointers of one ledger (``prefix`` is the ledger's, e.g. ``ledger/``)."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = f"{prefix}{LIVE}"
        self._store = Vault(s3, bucket)

    def key(self, environment: str, moment: datetime, version: str, event_id: str) -> str:
        """Where the pointer of one event is stored."""
        return f"{self.prefix}{environment}/{inverted(moment)}_{version}_{event_id}.json"

    def put(self, key: str, body: bytes) -> None:
        """Put-once (the same bytes again are success: reindex and retries are safe)."""
        taken = VaultError(f"{self._store.uri(key)} already holds another pointer",
                           FOREIGN_POINTER)
        self._store.put_once(key, body, b64_sha256(body), taken)

    def parse(self, key: str) -> Pointer | None:
        """The pointer a key names (None when it is not a pointer's name)."""
        rest = key.removeprefix(self.prefix)
        env, _, name = rest.partition("/")
        parts = name.removesuffix(".json").split("_")
        if rest == key or not name.endswith(".json") or len(parts) != 3 or not env:
            return None
        stamp, version, event_id = parts
        return Pointer(key, env, stamp, version, event_id)

    def newest(self, environment: str, count: int) -> list[str]:
        """The keys of ``environment``'s ``count`` newest pointers (one request)."""
        page = self._list(f"{self.prefix}{environment}/", MaxKeys=count)
        return [o["Key"] for o in page.get("Contents", ())][:count]

    def keys(self) -> Iterator[str]:
        """Every pointer's key, environment by environment, newest first."""
        return self._store.keys(self.prefix)

    def body(self, key: str) -> Any:
        """A pointer's stored JSON (None when it is not JSON)."""
        from botocore.exceptions import ClientError

        try:
            raw = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise self._store.explain(exc, "reading", key) from None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _list(self, prefix: str, **extra: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            page: dict[str, Any] = self.s3.list_objects_v2(
                Bucket=self.bucket, Prefix=prefix, **extra)
        except ClientError as exc:
            raise self._store.explain(exc, "listing", prefix) from None
        return page
