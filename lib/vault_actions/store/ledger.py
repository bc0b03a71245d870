"""The ledger: an append-only record of every release's journey (event I/O only).

Each event is its own put-once JSON object,
``ledger/v<version>/<writer>/<time>-<uuid>.<sha256>.json`` in the vault bucket, so
concurrent writers never lose one and nothing is ever modified or deleted. ``<writer>`` is
the job that wrote it: ``build`` (the publish and record jobs), ``gate`` (the approval
workflow) or the environment whose deploy job it was. Each job's IAM role may write only
under its own folder (infra/vault.yaml), and an event found in a folder whose job never
records it is not an event (``may_write``). Each carries the proof of who wrote it
(``store.attestation``). Only each key's first S3 version counts: put-once never makes a
second one, so a later version is an overwrite behind the vault's back (``Vault.rewritten``
reports it). The key names the SHA-256 of the event's bytes, so a read lists with
ListObjectsV2 and hashes what it gets; only bytes that differ (an overwrite) send it to
the key's S3 versions for the first one. Keys written before the digest (``<id>.json``)
are read as before: their folder's versions are listed. Everything else (journeys, what
is live where, who may go where) is derived from the events; what is stored beside them
under ``ledger/_index/`` is derived too and never believed over them: the live index
(``store.index``) and the feed (``store.feed``), each written by ``record`` just before
its event. An object under ``ledger/`` that is not an event (anyone who may write there
can put one) is skipped with a warning naming its key, never fatal.

One piece (over 400 lines): the event's shape, its key layout, who may write it and the
put-once, first-version reads are one contract; split, each part would restate the others.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vault_actions.config import BUILD_JOB, GATE_JOB, NAME
from vault_actions.errors import VaultError, VersionError
from vault_actions.integrations import aws
from vault_actions.store import attestation
from vault_actions.store.catalogue import Catalogue, Names, names
from vault_actions.store.feed import Feed
from vault_actions.store.index import INDEX, LiveIndex
from vault_actions.store.manifest import is_version, precedence, validate_version, version_prefix
from vault_actions.store.vault import Vault, b64_sha256

if TYPE_CHECKING:
    from vault_actions.context import RunContext

log = logging.getLogger(__name__)

SCHEMA = 2
EVENTS = (
    "built", "deployed", "deploy_failed", "smoke_passed", "smoke_failed",
    "approved", "rejected", "rolled_back", "dr_synced", "cancelled",
    "traffic_shifted", "withdrawn", "freeze_overridden",
)
# withdrawn: an emergency rollback took the environment away from this version.
FATAL = frozenset({"smoke_failed", "rejected", "cancelled", "withdrawn"})
# Events that put a version's code live in their environment (DR sync deploys to DR).
LIVE_EVENTS = frozenset({"deployed", "dr_synced"})
WINDOW = 1000  # event keys a summary's writer reads again per run (Ledger.window)
READERS = 16
BATCH_SPARE = 50  # other versions one listing may cover to list neighbours together
GITHUB_GATE = "github-environment"  # details.source of approvals read from GitHub's gate
FOREIGN_HINT = "ledger events are written only by vault-actions; check who wrote this object"
NEW_VERSION_HINT = "push a fix: or feat: commit to main; the next build releases a new version"

_ID = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{32}")
_NAME = re.compile(r"(?P<id>[^/.]+)(?:\.(?P<digest>[0-9a-f]{64}))?\.json")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """One step of a release's journey, exactly as stored in the ledger."""

    id: str
    version: str
    event: str
    environment: str | None
    at: str
    actor: str
    commit: str | None
    run_url: str | None
    details: dict[str, Any] = field(default_factory=dict)
    proof: dict[str, Any] | None = None
    writer: str = BUILD_JOB

    @property
    def time(self) -> datetime:
        """``at`` as an aware datetime."""
        return datetime.fromisoformat(self.at)

    @property
    def when(self) -> str:
        """``at`` for people: ``2026-03-01 10:00:01 UTC``."""
        return self.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    @property
    def who(self) -> str:
        """Who decided (``details.by`` for gate decisions), else who ran it."""
        by = self.details.get("by")
        return str(by) if by else self.actor

    @property
    def local(self) -> bool:
        """True when the event says it was written outside GitHub Actions."""
        return bool(self.proof and self.proof.get("kind") == attestation.LOCAL)

    @property
    def shown_who(self) -> str:
        """``who`` for people: flagged ``(local)`` when written outside Actions."""
        return f"{self.who} (local)" if self.local else self.who

    @property
    def reason(self) -> str | None:
        """``details.reason`` when one was given."""
        reason = self.details.get("reason")
        return str(reason) if reason else None

    @property
    def fatal(self) -> bool:
        """True when this event kills the version."""
        return self.event in FATAL

    def describe(self) -> str:
        """``smoke_failed in qa at <when> by <who>`` (with the reason when there is one)."""
        where = f" in {self.environment}" if self.environment else ""
        text = f"{self.event}{where} at {self.when} by {self.shown_who}"
        return f"{text} ({self.reason})" if self.reason else text

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"schema": SCHEMA, "id": self.id, "version": self.version, "event": self.event,
                "environment": self.environment, "at": self.at, "actor": self.actor,
                "commit": self.commit, "run_url": self.run_url, "details": dict(self.details),
                "proof": dict(self.proof) if self.proof is not None else None,
                "writer": self.writer}  # what asdict gives, without its deep copy (it is slow)

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Event:
        """Parse a stored event; VaultError naming ``where`` when it is not one."""
        try:
            return _parse_event(raw)
        except (TypeError, ValueError, KeyError, VersionError) as exc:
            raise VaultError(
                f"{where} is not a valid ledger event ({exc})",
                FOREIGN_HINT,
            ) from None


def _optional_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} must be a string or null, not {value!r}")
    return value


def _required_str(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} must be a non-empty string, not {value!r}")
    return value


def _proof(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    proof = raw.get("proof")
    if proof is not None and not isinstance(proof, dict):
        raise TypeError(f"proof must be an object or null, not {proof!r}")
    return proof


def _parse_event(raw: Any) -> Event:
    if not isinstance(raw, dict):
        raise TypeError("not a JSON object")
    details = raw.get("details", {})
    if not isinstance(details, dict):
        raise TypeError(f"details must be an object, not {details!r}")
    event = Event(
        id=_required_str(raw, "id"),
        version=_required_str(raw, "version"),
        event=_required_str(raw, "event"),
        environment=_optional_str(raw, "environment"),
        at=_required_str(raw, "at"),
        actor=_required_str(raw, "actor"),
        commit=_optional_str(raw, "commit"),
        run_url=_optional_str(raw, "run_url"),
        details=details,
        proof=_proof(raw),
        writer=_required_str(raw, "writer"),
    )
    if validate_version(event.version) != event.version:
        raise ValueError(f"version {event.version!r} must not carry a 'v' prefix")
    if event.time.tzinfo is None:
        raise ValueError(f"at {event.at!r} has no time zone")
    return event


def may_write(writer: str, event: str, environment: str | None) -> bool:
    """Whether the job ``writer`` records ``event`` in ``environment``: kills come from any
    job (fail closed); ``built`` from the build job; approvals and rejections from the
    gate workflow or the environment's own deploy job (reading GitHub's review); every
    other event from the environment's own job."""
    if event in FATAL:
        return True
    if event == "built":
        return writer == BUILD_JOB and environment is None
    if event in ("approved", "rejected") and writer == GATE_JOB:
        return environment is not None
    return writer == environment


def order(event: Event) -> tuple[datetime, str]:
    """Events sort by time, then id."""
    return (event.time, event.id)


@dataclass(frozen=True)
class Skipped:
    """An object under ``ledger/`` that is not a readable event: named, never fatal."""

    key: str
    problem: str

    def to_json(self) -> dict[str, str]:
        """Plain data for ``--json``."""
        return {"key": self.key, "problem": self.problem}


@dataclass(frozen=True)
class Scan:
    """What a read of the ledger found: the events, and the objects that are not events."""

    events: list[Event]
    skipped: list[Skipped]


@dataclass(frozen=True)
class Listing:
    """The versions with events, newest first, and what lies beside their folders."""

    versions: list[str]
    strays: list[Skipped]


class Ledger:
    """The ledger in one vault bucket. The S3 client is passed in (see ``aws.client``)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str = "ledger/",
        *,
        clock: Callable[[], datetime] = _now,
        attestor: attestation.Attestor | None = None,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self._store = Vault(s3, bucket)
        self.prefix = prefix if prefix.endswith("/") else f"{prefix}/"
        self._clock = clock
        self._attestor = attestor
        self.index = LiveIndex(s3, bucket, self.prefix)
        self.feed = Feed(s3, bucket, self.prefix)
        self.catalogue = Catalogue(self.feed)
        self._listed: list[str] = []  # every folder the last listing() found, sorted

    @property
    def attestor(self) -> attestation.Attestor:
        """Who proves this process's events (the runner's OIDC token in Actions, else the
        caller's STS identity), chosen at the first write."""
        if self._attestor is None:
            self._attestor = attestation.from_environment()
        return self._attestor

    def uri(self, key: str = "") -> str:
        """``s3://bucket/ledger/…``."""
        return f"s3://{self.bucket}/{key or self.prefix}"

    def folder(self, version: str) -> str:
        """A version's folder: ``ledger/v1.2.3/``."""
        return f"{self.prefix}{version_prefix(validate_version(version))}"

    def key(self, version: str, writer: str, event_id: str, body: bytes) -> str:
        """Where the event stored as ``body`` lives (``<sha256>``: of ``body``, hex):
        ``ledger/v1.2.3/<writer>/<id>.<sha256>.json``."""
        return self.key_named(version, writer, event_id, hashlib.sha256(body).hexdigest())

    def key_named(self, version: str, writer: str, event_id: str, digest: str) -> str:
        """Where the event whose bytes have SHA-256 ``digest`` (hex) lives."""
        folder = f"{self.folder(version)}{writer}/"
        return f"{folder}{event_id}.{digest}.json"

    def event_key(self, event: Event) -> str:
        """Where ``event`` is stored."""
        return self.key(event.version, event.writer, event.id, self.body(event))

    def record(
        self,
        version: str,
        event: str,
        environment: str | None,
        ctx: RunContext,
        *,
        commit: str | None = None,
        details: dict[str, Any] | None = None,
        writer: str | None = None,
    ) -> Event:
        """Append one event (put-once, never overwritten) and return it. ``writer`` is the
        job writing it (default: the environment's job, or the build job without one)."""
        if event not in EVENTS:
            raise ValueError(f"unknown ledger event {event!r}; events are {', '.join(EVENTS)}")
        if environment is not None and not NAME.fullmatch(environment):
            raise ValueError(f"invalid environment name {environment!r}")
        writer = writer or environment or BUILD_JOB
        if not may_write(writer, event, environment):
            raise ValueError(f"the {writer} job does not record {event} in {environment}")
        moment = self._clock().astimezone(UTC)
        recorded = Event(
            id=f"{moment:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}",
            version=validate_version(version),
            event=event,
            environment=environment,
            at=moment.isoformat(timespec="microseconds"),
            actor=ctx.actor,
            commit=commit or ctx.sha,
            run_url=ctx.run_url,
            details=dict(details or {}),
            writer=writer,
        )
        recorded = replace(recorded, proof=self.attestor.prove(recorded.to_json()))
        body = self.body(recorded)
        self._name(recorded)
        pointer = self.pointer_key(recorded)
        if pointer is not None:  # first: a live event never lacks its pointer
            self.index.put(pointer, body)
        self._put(self.key(recorded.version, writer, recorded.id, body), body)
        log.info("ledger: v%s %s", recorded.version, recorded.describe())
        return recorded

    def _name(self, event: Event) -> None:
        """Put ``event``'s feed entry (before the event: none lacks it unless refused). A
        refusal (a role of an older stack) is a warning, not a lost event: the record
        job's next summary holds it if its version is kept, else once its folder is read
        again (``window``) or after `vault ledger reindex`."""
        try:
            self.feed.put(self.entry_key(event), b"")
        except VaultError as exc:
            log.warning("ledger: %s; status may see this event only after a later summary (%s)",
                        exc.message, "update the vault stack: every ledger-writing role may "
                        "put ledger/_index/feed/*")

    def entry_key(self, event: Event) -> str:
        """The feed entry that names ``event``."""
        digest = hashlib.sha256(self.body(event)).hexdigest()
        return self.feed.event_key(event.time, event.version, event.writer, event.id, digest)

    def pointer_key(self, event: Event) -> str | None:
        """Where the live index points to ``event`` (None: it puts nothing live)."""
        if event.event not in LIVE_EVENTS or event.environment is None:
            return None
        return self.index.key(event.environment, event.time, event.version, event.id)

    def body(self, event: Event) -> bytes:
        """An event's stored bytes (its pointer holds the same)."""
        return json.dumps(event.to_json(), sort_keys=True).encode()

    def versions(self) -> list[str]:
        """Every version with events, newest (semver) first (see :meth:`listing`)."""
        return self.listing().versions

    def listing(self) -> Listing:
        """The versions' folders, newest (semver) first, and what else lies directly under
        ``ledger/``: only ``ledger/*/`` is listed (a request per 1,000), no event is read."""
        from botocore.exceptions import ClientError

        folders: list[str] = []
        strays: list[Skipped] = []
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, Delimiter="/")
            for page in pages:
                folders += [p["Prefix"] for p in page.get("CommonPrefixes", ())]
                strays += [Skipped(o["Key"], "it lies outside every version's folder")
                           for o in page.get("Contents", ())]
        except ClientError as exc:
            raise self._store.explain(exc, "listing", self.prefix) from None
        versions = []
        for folder in folders:
            name = folder[len(self.prefix):-1]
            if name.startswith("v") and is_version(name[1:]):
                versions.append(name[1:])
            elif folder != self.prefix + INDEX:
                strays.append(Skipped(folder, "a folder that is not a version's"))
        for item in strays:
            log.warning("ledger: skipped %s: %s", self.uri(item.key), item.problem)
        self._listed = sorted(folders)
        return Listing(sorted(versions, key=precedence, reverse=True), strays)

    def catalogued(self) -> dict[str, Names]:
        """Every version's event keys below its folder (``store.catalogue``), from one
        listing of every folder (one request per 1,000 keys: for a summary from scratch)."""
        return self._named(list(self._store.keys(f"{self.prefix}v")))

    def window(self, after: str) -> tuple[dict[str, Names], str]:
        """The event keys of the folders (in key order) after the folder ``after`` whose
        keys one listing page holds whole, and the last of them ("": the page reached the
        end): a few folders at a time, all of them in turn, at one request per call."""
        from botocore.exceptions import ClientError

        prefix = f"{self.prefix}v"
        start = {"StartAfter": f"{after}~"} if after else {}  # after its writers' folders
        try:
            page = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=WINDOW,
                                           **start)
        except ClientError as exc:
            raise self._store.explain(exc, "listing", prefix) from None
        keys = [o["Key"] for o in page.get("Contents", ()) if self._folder(o["Key"]) != after]
        last = self._folder(keys[-1]) if keys and page.get("IsTruncated") else ""
        whole = [k for k in keys if not last or self._folder(k) != last]
        if last and not whole:  # one folder fills the page: its readers list it
            return {last[len(prefix):-1]: None}, last
        return self._named(whole), self._folder(whole[-1]) if last else ""

    def _named(self, keys: list[str]) -> dict[str, Names]:
        """Each version's names (``store.catalogue``) among ``keys``."""
        found: dict[str, list[str]] = {}
        for key in keys:
            found.setdefault(self._folder(key), []).append(key)
        start = len(self.prefix) + 1
        return {folder[start:-1]: names(folder, keys) for folder, keys in found.items()
                if is_version(folder[start:-1])}

    def named(self, version: str, below: list[str]) -> list[str]:
        """The keys of ``version``'s events a catalogue block names (``below`` its folder)."""
        return [f"{self.folder(version)}{name}" for name in below]

    def know(self, versions: list[str]) -> None:
        """Take ``versions`` as every version's (from a summary): :meth:`scan_versions`
        lists neighbours together as after a :meth:`listing`."""
        self._listed = sorted(self.prefix + version_prefix(v) for v in versions)

    def scan_versions(self, versions: list[str]) -> dict[str, Scan]:
        """The events of each of ``versions``, read in parallel. Versions whose folders
        share a name prefix are listed together (``v1.4.98`` lists v1.4.98 and
        v1.4.980-989) when the last :meth:`listing` shows few other folders under it."""
        folders = {self.folder(v): v for v in versions}
        if not folders:
            return {}
        prefixes = batches(sorted(folders), self._listed, len(self.prefix) + 1)
        with ThreadPoolExecutor(max_workers=min(READERS, len(prefixes))) as pool:
            listed = [k for keys in pool.map(self._keys, prefixes) for k in keys.items()]
        scan = self._read_all({k: v for k, v in listed if self._folder(k) in folders})
        found: dict[str, Scan] = {v: Scan([], []) for v in folders.values()}
        for event in scan.events:
            found[event.version].events.append(event)
        for item in scan.skipped:
            found[folders[self._folder(item.key)]].skipped.append(item)
        return found

    def _folder(self, key: str) -> str:
        """The version folder (``ledger/v1.2.3/``) a key lies in."""
        end = key.find("/", len(self.prefix))
        return key[:end + 1]

    def _put(self, key: str, body: bytes) -> None:
        """Put-once; a 412 on these same bytes is our own earlier attempt, so success."""
        taken = VaultError(
            f"{self.uri(key)} already holds another event",
            FOREIGN_HINT,
        )
        self._store.put_once(key, body, b64_sha256(body), taken)

    def events(self, version: str | None = None) -> list[Event]:
        """Every event (of one version, or of all), ordered by (at, id); objects that are
        not events are skipped (see :meth:`scan`)."""
        return self.scan(version).events

    def scan(self, version: str | None = None) -> Scan:
        """Every event (of one version, or of all), ordered by (at, id), and the objects
        that are not events, each logged as a warning with its key."""
        prefix = self.folder(version) if version else self.prefix
        return self._read_all(self._keys(prefix))

    def written_by(self, version: str, writer: str) -> list[Event]:
        """The events of ``version`` in the folder of the job ``writer`` (e.g. the build
        job's ``built``), ordered by (at, id): one listing of that folder only."""
        prefix = f"{self.folder(version)}{writer}/"
        return self._read_all(self._keys(prefix)).events

    def scan_keys(self, keys: list[str], known: list[Event]) -> Scan:
        """The events at ``keys`` (named with their digest) and ``known`` (read before) as
        :meth:`scan` gives them: ordered, a copy counted once, the rest skipped."""
        return self._read_all(dict.fromkeys(keys), known)

    def read_each(self, keys: list[str]) -> dict[str, Event | Skipped]:
        """The event at each of ``keys`` (named with their digest), read in parallel, or
        why the key holds none (or nothing)."""
        return self._each(dict.fromkeys(keys))

    def _each(self, keys: dict[str, str | None]) -> dict[str, Event | Skipped]:
        """key -> its event (at that S3 VersionId, None: the latest) or why it holds none."""
        if not keys:
            return {}
        with ThreadPoolExecutor(max_workers=min(READERS, len(keys))) as pool:
            return dict(zip(keys, pool.map(self._try_read, *zip(*keys.items(), strict=True)),
                            strict=True))

    def _read_all(self, keys: dict[str, str | None], known: list[Event] | None = None) -> Scan:
        found = [*(known or ()), *self._each(keys).values()]
        unique = {self.body(e): e for e in found if isinstance(e, Event)}  # a copy counts once
        events = sorted(unique.values(), key=order)
        skipped = [s for s in found if isinstance(s, Skipped)]
        for item in skipped:
            log.warning("ledger: skipped %s: %s", self.uri(item.key), item.problem)
        return Scan(events, skipped)

    def _try_read(self, key: str, version_id: str | None) -> Event | Skipped:
        try:
            return self._read(key, version_id)
        except VaultError as exc:
            if exc.hint != FOREIGN_HINT:
                raise
            return Skipped(key, exc.message)

    def _keys(self, prefix: str) -> dict[str, str | None]:
        """key -> the S3 VersionId to read, for every event key under ``prefix``: None (the
        latest, checked against the digest its name holds) unless the key predates digests,
        then its first version's (the folder's versions are listed only for those)."""
        index = self.prefix + INDEX
        keys: dict[str, str | None] = {k: None for k in self._store.keys(prefix)
                                       if k.endswith(".json") and not k.startswith(index)}
        if any(_digest(key) is None for key in keys):
            firsts = self._first_versions(prefix)
            keys.update((k, firsts.get(k)) for k in keys if _digest(k) is None)
        return keys

    def _first_versions(self, prefix: str) -> dict[str, str]:
        """key -> VersionId of its first S3 version, for every key under ``prefix``.

        S3 lists a key's versions newest first. A key with more versions was overwritten
        (put-once never does that): its first version is the event, the rest are ignored.
        """
        from botocore.exceptions import ClientError

        first: dict[str, str] = {}
        overwritten: set[str] = set()
        try:
            pages = self.s3.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for entry in page.get("Versions", ()):
                    key = entry["Key"]
                    if key in first:
                        overwritten.add(key)
                    first[key] = entry["VersionId"]
        except ClientError as exc:
            raise self._store.explain(exc, "listing", prefix) from None
        for key in sorted(overwritten):
            log.warning("%s has more than one S3 version: only its first counts (put-once "
                        "never overwrites; run `vault doctor`)", self.uri(key))
        return first

    def _get(self, key: str, version_id: str | None) -> bytes:
        from botocore.exceptions import ClientError

        extra = {"VersionId": version_id} if version_id and version_id != "null" else {}
        try:
            response = self.s3.get_object(
                Bucket=self.bucket, Key=key, ChecksumMode="ENABLED", **extra
            )
            body: bytes = response["Body"].read()
        except ClientError as exc:
            if aws.error_code(exc) in ("NoSuchKey", "404"):
                raise VaultError(f"{self.uri(key)} holds nothing", FOREIGN_HINT) from None
            raise self._store.explain(exc, "reading", key) from None
        return body

    def _bytes(self, key: str, version_id: str | None) -> bytes:
        """The event's stored bytes: those whose SHA-256 its name holds (an overwrite sends
        the read to the key's first version), or those of ``version_id``."""
        body = self._get(key, version_id)
        digest = _digest(key)
        if digest is None or hashlib.sha256(body).hexdigest() == digest:
            return body
        first = self._first_versions(key).get(key)
        if first is not None:
            body = self._get(key, first)
        if hashlib.sha256(body).hexdigest() != digest:
            raise VaultError(
                f"{self.uri(key)} does not hold the bytes whose SHA-256 its name holds",
                FOREIGN_HINT,
            )
        return body

    def _read(self, key: str, version_id: str | None) -> Event:
        body = self._bytes(key, version_id)
        try:
            raw = json.loads(body)
        except ValueError as exc:
            raise VaultError(
                f"{self.uri(key)} is not JSON ({exc})",
                FOREIGN_HINT,
            ) from None
        event = Event.from_json(raw, self.uri(key))
        if key not in self._names(event, body) or not _ID.fullmatch(event.id):
            raise VaultError(
                f"{self.uri(key)} holds event {event.id!r} of v{event.version} by the "
                f"{event.writer} job, which belongs elsewhere",
                FOREIGN_HINT,
            )
        if not may_write(event.writer, event.event, event.environment):
            where = f" in {event.environment}" if event.environment else ""
            raise VaultError(
                f"{self.uri(key)} says the {event.writer} job recorded {event.event}{where}, "
                "which that job never records",
                FOREIGN_HINT,
            )
        return event

    def _names(self, event: Event, body: bytes) -> tuple[str, str]:
        """The keys an event stored as ``body`` may have: with its digest, or from before."""
        key = self.key(event.version, event.writer, event.id, body)
        return key, f"{key.rsplit('.', 2)[0]}.json"


def batches(wanted: list[str], folders: list[str], floor: int,
            spare: int = BATCH_SPARE) -> list[str]:
    """Prefixes to list that cover the ``wanted`` folders (sorted): neighbours share one
    (longer than ``floor``) when at most ``spare`` other known ``folders`` (sorted, from
    the last listing) lie under it, else each folder is its own."""
    groups: list[tuple[str, int]] = []  # (prefix, wanted folders under it)
    for name in wanted:
        if groups and folders:
            prefix, count = groups[-1]
            shared = _shared(prefix, name)
            under = (bisect.bisect_left(folders, shared + "\uffff")
                     - bisect.bisect_left(folders, shared))
            if len(shared) > floor and under - count - 1 <= spare:
                groups[-1] = (shared, count + 1)
                continue
        groups.append((name, 1))
    return [prefix for prefix, _ in groups]


def _shared(one: str, other: str) -> str:
    """The longest prefix of both."""
    size = min(len(one), len(other))
    return one[:next((i for i in range(size) if one[i] != other[i]), size)]


def _digest(key: str) -> str | None:
    """The SHA-256 (hex) an event key names, or None for a key from before digests."""
    found = _NAME.fullmatch(key.rsplit("/", 1)[-1])
    return found["digest"] if found else None
