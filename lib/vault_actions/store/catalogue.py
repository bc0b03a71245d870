"""The catalogue: every version's event keys as of a summary, in put-once blocks.

A summary (``promotion.summary``) names, for each block of versions (``1.2.5``: v1.2.500
to v1.2.599 and their pre-releases), the SHA-256 of an object
``ledger/_index/feed/catalogue/<sha256>.json`` that lists each of those versions' event
keys then (their names below the version's folder), or ``null`` for a version whose
folder held anything else (a key from before digests, an object that is not an event):
that folder is listed instead. So a report on one version (``vault status --version``)
reads its events each from its own key, hashed and judged, without listing its folder.
Like the feed, a block is derived and only says where to read: it is believed only
through a summary that holds, and only when its bytes are the ones the summary names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from vault_actions.errors import VaultError
from vault_actions.store.feed import Feed

log = logging.getLogger(__name__)

SCHEMA = 1
BLOCK = 100  # patch numbers per block
_NAME = re.compile(r"[a-z0-9-]+/[^/.]+\.[0-9a-f]{64}\.json")  # <writer>/<id>.<sha256>.json
_DIGEST = re.compile(r"[0-9a-f]{64}")

Names = list[str] | None  # a version's event keys below its folder; None: list the folder


def block(version: str) -> str:
    """The block a version (``1.2.345`` or ``1.2.345-rc.1``) lies in: ``1.2.3``."""
    major, minor, patch = version.split("-", 1)[0].split(".")
    return f"{major}.{minor}.{int(patch) // BLOCK}"


def names(folder: str, keys: list[str]) -> Names:
    """What a block says of the folder ``folder`` (``ledger/v1.2.3/``) holding ``keys``."""
    found = sorted(k.removeprefix(folder) for k in keys)
    if any(not _NAME.fullmatch(name) for name in found):
        return None
    return found


class Catalogue:
    """The catalogue blocks of one ledger, stored in its feed's folder."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.prefix = f"{feed.prefix}catalogue/"

    def put(self, versions: Mapping[str, Names]) -> str:
        """Store one block put-once; its digest. Its id makes the name unforeseeable: a
        role that may write the feed cannot take it first with other bytes."""
        body = json.dumps({"schema": SCHEMA, "id": uuid.uuid4().hex,
                           "versions": dict(versions)}, sort_keys=True).encode()
        digest = hashlib.sha256(body).hexdigest()
        self.feed.put(f"{self.prefix}{digest}.json", body)
        return digest

    def read(self, digest: str) -> dict[str, Names] | None:
        """The block whose bytes have SHA-256 ``digest``; None (with a warning) when it is
        missing, rewritten or not a block: the folders are listed instead."""
        key = f"{self.prefix}{digest}.json"
        try:
            if not _DIGEST.fullmatch(digest):
                raise ValueError("is not a catalogue block's name")
            body = self.feed.body(key)
            if hashlib.sha256(body).hexdigest() != digest:
                raise ValueError("does not hold the bytes whose SHA-256 its name holds")
            return _versions(json.loads(body))
        except VaultError as exc:
            problem = exc.message
        except ValueError as exc:
            problem = str(exc)
        log.warning("ledger catalogue: %s is not believed (%s); the version folders are "
                    "listed instead", key, problem)
        return None


def _versions(raw: Any) -> dict[str, Names]:
    """A block's versions; ValueError when it is not a block."""
    versions = raw.get("versions") if isinstance(raw, dict) else None
    if not isinstance(versions, dict) or raw.get("schema") != SCHEMA or not all(
            v is None or (isinstance(v, list) and all(isinstance(n, str) for n in v))
            for v in versions.values()):
        raise ValueError("is not a catalogue block")
    return versions
