"""The release zip: pack a dist folder reproducibly and digest it while writing.

The same tree gives the same bytes on every run: entries sorted by UTF-8 path, every
timestamp at the zip epoch (1980-01-01 00:00:00), modes normalised to 0644/0755 (unix),
UTF-8 names, no directory entries, no extra fields (ZIP64 only where sizes demand it),
deflate level 6. Files are read and compressed on a thread pool (zlib releases the GIL)
in chunks of at most 1 MiB, so memory is bounded whatever the size of dist. Machines
produce identical bytes as long as they link the same deflate implementation (zlib).

One piece (over 400 lines): the format rules, the size and credential refusals and the
streaming digests all act during the same single walk of the dist folder.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import stat
import struct
import tempfile
import unicodedata
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, partial
from itertools import groupby
from pathlib import Path
from typing import BinaryIO, NamedTuple

from vault_actions.errors import ArtifactError
from vault_actions.text import plural

logger = logging.getLogger(__name__)

LEVEL = 6
LAMBDA_UNZIPPED_LIMIT = 262_144_000  # Lambda refuses code larger than this, unzipped
_CHUNK = 1 << 20  # unit of reading, compressing and spooling
_WINDOW = 1 << 15  # deflate window: a chunk is primed with the 32 KiB before it
_BATCH_FILES = 256  # at most this many small files per pool task
_MAX_WORKERS = 8  # default cap: memory is about (2 × workers + 2) × 2 MiB
_STORED, _DEFLATED = 0, 8
_UTF8_FLAG = 0x800
_DOS_DATE, _DOS_TIME = (1 << 5) | 1, 0  # 1980-01-01 00:00:00
_UNIX = 3 << 8
_ZIP64_SIZE = 0xFFFFFFFF  # sizes and offsets from here on need ZIP64
_ZIP64_COUNT = 0xFFFF  # so does an entry count from here on
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")


@dataclass(frozen=True)
class Artifact:
    """The zip on disk and its digests."""

    path: Path
    size: int
    sha256: str
    file_count: int

    @property
    def code_sha256(self) -> str:
        """Base64 of the raw SHA-256: S3's ChecksumSHA256 and Lambda's CodeSha256."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


def pack(
    dist: Path,
    out: Path,
    allow: Sequence[str] = (),
    workers: int | None = None,
    max_size: int | None = None,
) -> Artifact:
    """Zip the contents of ``dist`` into ``out``; ArtifactError when dist cannot ship.

    ``allow`` lists dist-relative files or folders that look like secrets (.git, .env,
    keys, credentials) but are shipped on purpose. ``max_size`` lowers the limit of the
    unzipped size (Lambda's 250 MB). ``workers`` threads compress (default: one per CPU,
    at most 8); the bytes written do not depend on it.
    """
    files = _collect(dist, out, allow)
    check_size(dist, sum(file.size for file in files), max_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial_out = out.with_name(out.name + ".partial")
    try:
        with partial_out.open("wb") as raw:
            writer = _HashingWriter(raw)
            _write_zip(writer, files, workers or min(os.cpu_count() or 1, _MAX_WORKERS))
        partial_out.replace(out)
    except BaseException:
        partial_out.unlink(missing_ok=True)
        raise
    artifact = Artifact(out, writer.offset, writer.sha256.hexdigest(), len(files))
    logger.info(
        "packed %s: %s, %s, sha256 %s",
        out, plural(artifact.file_count, "file"), plural(artifact.size, "byte"),
        artifact.sha256,
    )
    return artifact


# --- walking dist ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _File:
    """One zip entry: its name, where its bytes are read from, size and normalised mode."""

    name: str
    path: bytes
    size: int
    mode: int

    @property
    def chunks(self) -> int:
        return max(1, -(-self.size // _CHUNK))


class _Refusal(NamedTuple):
    label: str
    hint: str


_ENCODING = _Refusal("names that are not UTF-8", "give those files UTF-8 names")
_CLASH = _Refusal(
    "names that differ only by case or Unicode normalisation",
    "rename the clashing files (they overwrite each other on macOS and Windows)",
)
_OUTSIDE = _Refusal(
    "symlinks leading outside dist", "copy linked files into dist instead of linking outside it"
)
_LOOP = _Refusal("symlink loops or broken symlinks", "fix or remove broken and looping links")
_SPECIAL = _Refusal(
    "not regular files (fifo, socket or device)", "remove fifos, sockets and devices from dist"
)
_SECRET = _Refusal(
    ".git or .env files (nothing in the vault can ever be deleted: a secret would stay "
    "there forever)",
    "remove .git and .env files from dist, or list deliberate exceptions (a file or a "
    "folder) under `allow:` of the service in vault.yml",
)
_CREDENTIAL = _Refusal(
    "files that look like credentials (.npmrc with an auth token, private keys, .aws/, "
    ".ssh/, .netrc)",
    "remove them from dist (write build-time credentials such as .npmrc outside dist, e.g. "
    "with NPM_CONFIG_USERCONFIG), or list deliberate exceptions under `allow:` of the "
    "service in vault.yml",
)
_REFUSALS = (_ENCODING, _CLASH, _OUTSIDE, _LOOP, _SPECIAL, _SECRET, _CREDENTIAL)


class _Scan:
    """One walk of dist: the files to pack and every reason to refuse it."""

    def __init__(self, root: bytes) -> None:
        self.root = root
        self.files: list[_File] = []
        self.problems: dict[_Refusal, list[str]] = {}

    def refuse(self, refusal: _Refusal, what: str) -> None:
        self.problems.setdefault(refusal, []).append(what)

    def folder(self, real: bytes, prefix: str, ancestors: frozenset[bytes]) -> None:
        """Scan the folder at ``real`` (a resolved path) whose entries are named ``prefix``…"""
        with os.scandir(real) as entries:
            named = [(entry, self.decode(entry.name, prefix)) for entry in entries]
        folded: dict[str, list[str]] = {}
        for entry, name in named:
            if name is not None:
                folded.setdefault(_fold(name), []).append(prefix + name)
                self.entry(entry, prefix + name, ancestors)
        for names in folded.values():
            if len(names) > 1:
                self.refuse(_CLASH, " vs ".join(sorted(names)))

    def decode(self, name: bytes, prefix: str) -> str | None:
        try:
            return name.decode("utf-8")
        except UnicodeDecodeError:
            self.refuse(_ENCODING, prefix + name.decode("utf-8", "backslashreplace"))
            return None

    def entry(self, entry: os.DirEntry[bytes], rel: str, ancestors: frozenset[bytes]) -> None:
        real = self.resolve(entry.path, rel) if entry.is_symlink() else entry.path
        if real is None:
            return
        info = entry.stat()
        if stat.S_ISDIR(info.st_mode):
            if real in ancestors:
                self.refuse(_LOOP, f"{rel} → {os.fsdecode(real)}")
            else:
                self.folder(real, rel + "/", ancestors | {real})
        elif stat.S_ISREG(info.st_mode):
            mode = 0o755 if info.st_mode & 0o111 else 0o644
            self.files.append(_File(rel, real, info.st_size, mode))
        else:
            self.refuse(_SPECIAL, rel)

    def resolve(self, link: bytes, rel: str) -> bytes | None:
        """The real path a symlink inside dist leads to, or None (and a refusal)."""
        try:
            real = os.path.realpath(link, strict=True)
        except OSError:
            self.refuse(_LOOP, rel)
            return None
        if real != self.root and not real.startswith(self.root + b"/"):
            self.refuse(_OUTSIDE, f"{rel} → {os.fsdecode(real)}")
            return None
        return real


def _fold(name: str) -> str:
    """Canonical caseless form: names equal here clash on macOS and Windows."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


_CREDENTIAL_FOLDERS = frozenset({".aws", ".ssh"})
_CREDENTIAL_FILES = frozenset({
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk",
    ".netrc", "_netrc",
})
_KEY_SUFFIXES = (".pem", ".key", ".p8")  # refused only when they hold a private key
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
# `//registry/:_authToken=…`, `_auth=…`: a literal value (a `${VAR}` reference is no secret)
_NPM_AUTH = re.compile(
    rb"^[ \t]*(?:\S*:)?_(?:authToken|auth|password)[ \t]*=[ \t]*"
    rb"(?!\$\{[A-Za-z_][A-Za-z0-9_]*\}[ \t]*\r?$)\S",
    re.M,
)
_SNIFF = 1 << 20  # bytes of a key or .npmrc file read to look for secrets


def _is_secret(rel: str) -> bool:
    parts = rel.split("/")
    name = parts[-1]
    return ".git" in parts or name == ".env" or name.startswith(".env.")


def _credential(file: _File) -> str | None:
    """Why ``file`` looks like a credential (e.g. ``PRIVATE KEY``), or None."""
    parts = file.name.split("/")
    name = parts[-1]
    if folder := _CREDENTIAL_FOLDERS.intersection(parts[:-1]):
        return f"inside {min(folder)}/"
    if name in _CREDENTIAL_FILES:
        return "a private key" if name.startswith("id_") else "a credentials file"
    if name == ".npmrc" and _NPM_AUTH.search(_head(file)):
        return "an npm auth token"
    if name.endswith(_KEY_SUFFIXES) and _PRIVATE_KEY.search(_head(file)):
        return "a PRIVATE KEY"
    return None


def _head(file: _File) -> bytes:
    with Path(os.fsdecode(file.path)).open("rb") as handle:
        return handle.read(_SNIFF)


def _is_allowed(rel: str, allow: Sequence[str]) -> bool:
    return any(rel == entry or rel.startswith(entry + "/") for entry in allow)


def _collect(dist: Path, out: Path, allow: Sequence[str]) -> list[_File]:
    """The files of dist in zip order, or an ArtifactError listing everything refused."""
    if not dist.is_dir():
        raise ArtifactError(
            f"dist folder {dist} {'is not a folder' if dist.exists() else 'does not exist'}",
            "run the build first (the service's `build:` command in vault.yml)",
        )
    root = os.fsencode(os.path.realpath(dist))
    if os.fsencode(os.path.realpath(out)).startswith(root + b"/"):
        raise ArtifactError(
            f"the zip {out} would be written inside the dist folder {dist}",
            "write it outside dist",
        )
    scan = _Scan(root)
    scan.folder(root, "", frozenset({root}))
    allowed = [entry.removeprefix("./").strip("/") for entry in allow]
    for file in scan.files:
        if _is_allowed(file.name, allowed):
            continue
        if _is_secret(file.name):
            scan.refuse(_SECRET, file.name)
        elif why := _credential(file):
            scan.refuse(_CREDENTIAL, f"{file.name} ({why})")
    if scan.problems:
        raise _refused(dist, scan.problems)
    if not scan.files:
        raise ArtifactError(
            f"dist folder {dist} holds no files",
            "the build produced nothing: check the service's `build:` and `dist:` in vault.yml",
        )
    return sorted(scan.files, key=lambda file: file.name.encode())


def check_size(dist: Path | str, unzipped: int, max_size: int | None = None) -> None:
    """ArtifactError when ``unzipped`` bytes exceed Lambda's limit or ``max_size``."""
    limit = min(LAMBDA_UNZIPPED_LIMIT, max_size or LAMBDA_UNZIPPED_LIMIT)
    if unzipped <= limit:
        return
    whose = "Lambda's limit" if limit == LAMBDA_UNZIPPED_LIMIT else "the service's max-size"
    raise ArtifactError(
        f"{dist} is {unzipped:,} bytes unzipped ({unzipped / 2**20:.1f} MiB), over "
        f"{whose} of {limit:,} bytes; nothing was tagged or uploaded",
        "ship less: leave dev dependencies, tests, source maps and assets out of dist "
        "(e.g. npm ci --omit=dev, pip install --no-compile), move large files to S3 or a "
        "Lambda layer, or raise max-size in vault.yml (at most 262144000)",
    )


def _refused(dist: Path, problems: dict[_Refusal, list[str]]) -> ArtifactError:
    lines, hints = [], []
    for refusal in _REFUSALS:
        if found := sorted(problems.get(refusal, ())):
            more = f" … and {len(found) - 20} more" if len(found) > 20 else ""
            lines.append(f"{refusal.label}: {', '.join(found[:20])}{more}")
            hints.append(refusal.hint)
    return ArtifactError(
        f"{dist} cannot be packed:\n    " + "\n    ".join(lines), "; ".join(hints)
    )


# --- compressing ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Packed:
    """A whole file or one chunk of it: CRC-32 and length of the raw bytes, bytes to write."""

    crc: int
    size: int
    data: bytes | memoryview
    method: int


def _pack_piece(file: _File, index: int) -> _Packed:
    """Compress chunk ``index`` of ``file``: a raw deflate stream or a part of one.

    A chunk after the first is primed with the 32 KiB before it and ends on a sync flush,
    so the chunks of a file concatenate into one valid deflate stream (as pigz does).
    """
    start = index * _CHUNK
    length = min(_CHUNK, file.size - start)
    primer = min(start, _WINDOW)
    fd = os.open(file.path, os.O_RDONLY)
    try:
        data = memoryview(os.pread(fd, primer + length, start - primer))
    finally:
        os.close(fd)
    if len(data) != primer + length:
        raise ArtifactError(
            f"{file.name} changed while it was being packed", "let the build finish first"
        )
    raw = data[primer:]
    compressor = (
        zlib.compressobj(LEVEL, zlib.DEFLATED, -15, zdict=data[:primer])
        if primer
        else zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    )
    last = index == file.chunks - 1
    deflated = compressor.compress(raw) + compressor.flush(
        zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH
    )
    if file.chunks == 1 and len(deflated) >= length:
        return _Packed(zlib.crc32(raw), length, raw, _STORED)
    return _Packed(zlib.crc32(raw), length, deflated, _DEFLATED)


def _pack_batch(batch: list[tuple[_File, int]]) -> list[_Packed]:
    return [_pack_piece(file, index) for file, index in batch]


def _batches(files: list[_File]) -> Iterator[list[tuple[_File, int]]]:
    """Pool tasks of about 1 MiB: a chunk of a big file, or many small files."""
    batch: list[tuple[_File, int]] = []
    load = 0
    for file in files:
        for index in range(file.chunks):
            batch.append((file, index))
            load += min(_CHUNK, file.size - index * _CHUNK)
            if load >= _CHUNK or len(batch) >= _BATCH_FILES:
                yield batch
                batch, load = [], 0
    if batch:
        yield batch


def _compressed(files: list[_File], workers: int) -> Iterator[tuple[_File, _Packed]]:
    """Every piece of every file, compressed in parallel, yielded in zip order.

    At most ``2 * workers + 2`` tasks are in flight or waiting to be written.
    """
    pending: deque[tuple[list[tuple[_File, int]], Future[list[_Packed]]]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="pack") as pool:
        for batch in _batches(files):
            pending.append((batch, pool.submit(_pack_batch, batch)))
            if len(pending) > 2 * workers + 1:
                yield from _done(*pending.popleft())
        while pending:
            yield from _done(*pending.popleft())


def _done(
    batch: list[tuple[_File, int]], future: Future[list[_Packed]]
) -> Iterator[tuple[_File, _Packed]]:
    for (file, _), packed in zip(batch, future.result(), strict=True):
        yield file, packed


@cache
def _zeros() -> bytes:
    return bytes(_CHUNK)


def _crc_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """CRC-32 of A+B from those of A and B: CRC-32 is affine over GF(2)."""
    zeros = memoryview(_zeros())[:length_b]
    return zlib.crc32(zeros, crc_a) ^ crc_b ^ zlib.crc32(zeros)


# --- writing the zip ------------------------------------------------------------------


class _HashingWriter:
    """Writes through to a file, hashing every byte and counting the offset."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.offset = 0

    def write(self, data: bytes | memoryview) -> None:
        self._raw.write(data)
        self.sha256.update(data)
        self.offset += len(data)


def _write_zip(out: _HashingWriter, files: list[_File], workers: int) -> None:
    central: list[bytes] = []
    for file, pieces in groupby(_compressed(files, workers), key=lambda item: item[0]):
        if file.chunks == 1:
            packed = next(pieces)[1]
            blocks: Iterable[bytes | memoryview] = (packed.data,)
            central.append(
                _write_entry(
                    out, file, method=packed.method, crc=packed.crc, size=len(packed.data),
                    blocks=blocks,
                )
            )
        else:
            central.append(_write_spooled(out, file, (packed for _, packed in pieces)))
    _write_end(out, central)


def _write_spooled(out: _HashingWriter, file: _File, pieces: Iterable[_Packed]) -> bytes:
    """Gather a big file's chunks in a spool (on disk past 1 MiB), then write the entry."""
    crc = 0
    with tempfile.SpooledTemporaryFile(max_size=_CHUNK) as spool:
        for packed in pieces:
            crc = _crc_combine(crc, packed.crc, packed.size)
            spool.write(packed.data)
        size = spool.tell()
        spool.seek(0)
        return _write_entry(
            out, file, method=_DEFLATED, crc=crc, size=size,
            blocks=iter(partial(spool.read, _CHUNK), b""),
        )


def _write_entry(
    out: _HashingWriter,
    file: _File,
    *,
    method: int,
    crc: int,
    size: int,
    blocks: Iterable[bytes | memoryview],
) -> bytes:
    """Write a local header and the data; return the entry's central directory record."""
    name = file.name.encode()
    offset = out.offset
    big = file.size >= _ZIP64_SIZE or size >= _ZIP64_SIZE
    far = offset >= _ZIP64_SIZE
    version = 45 if big or far else 20
    sizes = (0xFFFFFFFF, 0xFFFFFFFF) if big else (size, file.size)
    common = (version, _UTF8_FLAG, method, _DOS_TIME, _DOS_DATE, crc, *sizes, len(name))
    local_extra = _zip64_extra((file.size, size) if big else ())
    out.write(_LOCAL.pack(0x04034B50, *common, len(local_extra)) + name + local_extra)
    for block in blocks:
        out.write(block)
    extra = _zip64_extra(((file.size, size) if big else ()) + ((offset,) if far else ()))
    attributes = (stat.S_IFREG | file.mode) << 16
    record = _CENTRAL.pack(
        0x02014B50, _UNIX | version, *common, len(extra), 0, 0, 0, attributes,
        0xFFFFFFFF if far else offset,
    )
    return record + name + extra


def _zip64_extra(values: tuple[int, ...]) -> bytes:
    return struct.pack(f"<HH{len(values)}Q", 1, 8 * len(values), *values) if values else b""


def _write_end(out: _HashingWriter, central: list[bytes]) -> None:
    """The central directory, then (when needed) the ZIP64 end records, then the end."""
    start = out.offset
    for record in central:
        out.write(record)
    size, count = out.offset - start, len(central)
    if count >= _ZIP64_COUNT or size >= _ZIP64_SIZE or start >= _ZIP64_SIZE:
        end64 = out.offset
        out.write(_END64.pack(0x06064B50, 44, _UNIX | 45, 45, 0, 0, count, count, size, start))
        out.write(_LOCATOR64.pack(0x07064B50, 0, end64, 1))
    entries = count if count < _ZIP64_COUNT else 0xFFFF
    out.write(
        _END.pack(
            0x06054B50, 0, 0, entries, entries,
            size if size < _ZIP64_SIZE else 0xFFFFFFFF,
            start if start < _ZIP64_SIZE else 0xFFFFFFFF,
            0,
        )
    )
