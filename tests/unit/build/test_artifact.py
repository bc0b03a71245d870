"""The release zip: reproducible bytes, digests, refusals and bounded memory."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import shutil
import socket
import stat
import subprocess
import tracemalloc
import unicodedata
import zipfile
from pathlib import Path

import pytest

from vault_actions.build import artifact
from vault_actions.build.artifact import Artifact, pack
from vault_actions.errors import ArtifactError

UNZIP = shutil.which("unzip") or ""
needs_unzip = pytest.mark.skipif(not UNZIP, reason="Info-ZIP unzip is not installed")

TREE: dict[str, tuple[bytes, int]] = {
    "index.js": (b"exports.handler = async () => ({ statusCode: 200 });\n" * 40, 0o644),
    "bin/run": (b"#!/bin/sh\nexec node index.js\n", 0o755),
    "lib/util.js": (b"module.exports = {};\n", 0o600),
    "lib/deep/a-b.js": (b"", 0o644),
    "lib/deep-er.js": (random.Random(1).randbytes(3000), 0o640),
    "Zeta.txt": (b"zeta\n", 0o744),
    "é.txt": ("unicode é\n".encode(), 0o644),
}


def write(root: Path, rel: str, data: bytes = b"x", mode: int = 0o644) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def build_tree(root: Path, *, reverse: bool, umask: int, mtime: int, owner: int | None) -> Path:
    """Write TREE in an order, under a umask, with mtimes and an owner of our choice."""
    dist = root / "dist"
    old = os.umask(umask)
    try:
        for rel, (data, mode) in sorted(TREE.items(), reverse=reverse):
            path = dist / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(mode & ~umask)
    finally:
        os.umask(old)
    for path in [dist, *dist.rglob("*")]:
        os.utime(path, (mtime, mtime))
        if owner is not None:
            os.chown(path, owner, owner)
    return dist


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    return build_tree(tmp_path, reverse=False, umask=0o022, mtime=1_700_000_000, owner=None)


def refusal(dist: Path, allow: tuple[str, ...] = ()) -> str:
    out = dist.parent / "out.zip"
    with pytest.raises(ArtifactError) as caught:
        pack(dist, out, allow=allow)
    assert not out.exists()
    return str(caught.value)


def write_big(path: Path, seed: int, size: int) -> None:
    """Random-ish, partly compressible bytes, generated fast: 64 KiB blocks of each kind."""
    rng = random.Random(seed)
    noise = rng.randbytes(1 << 16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for index in range(0, size, 1 << 16):
            line = b"%08d lorem ipsum dolor sit amet " % index
            block = noise if index % 3 == 0 else line * 1821
            out.write(block[: min(1 << 16, size - index)])


# --- reproducibility ------------------------------------------------------------------


def test_same_tree_gives_identical_bytes_whatever_mtime_order_umask_and_owner(
    tmp_path: Path,
) -> None:
    first = build_tree(tmp_path / "a", reverse=False, umask=0o022, mtime=0, owner=None)
    owner = 65534 if os.geteuid() == 0 else None
    second = build_tree(tmp_path / "b", reverse=True, umask=0o077, mtime=2_000_000_000,
                        owner=owner)
    one = pack(first, tmp_path / "one.zip")
    two = pack(second, tmp_path / "two.zip")
    again = pack(first, tmp_path / "again.zip")
    assert one.path.read_bytes() == two.path.read_bytes() == again.path.read_bytes()
    assert one.sha256 == two.sha256 == again.sha256


def test_worker_count_does_not_change_the_bytes(dist: Path, tmp_path: Path) -> None:
    write_big(dist / "big.bin", seed=2, size=3 * 2**20 + 12345)
    one = pack(dist, tmp_path / "one.zip", workers=1)
    four = pack(dist, tmp_path / "four.zip", workers=4)
    assert one.path.read_bytes() == four.path.read_bytes()


def test_entries_are_normalised(dist: Path, tmp_path: Path) -> None:
    built = pack(dist, tmp_path / "out.zip")
    with zipfile.ZipFile(built.path) as zf:
        assert zf.testzip() is None
        infos = zf.infolist()
        assert [i.filename for i in infos] == sorted(TREE, key=str.encode)
        for info in infos:
            data, mode = TREE[info.filename]
            assert zf.read(info) == data
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.create_system == 3
            assert info.flag_bits & 0x800
            assert info.extra == b""
            assert info.external_attr >> 16 == stat.S_IFREG | (
                0o755 if mode & 0o111 else 0o644
            )
    assert built.file_count == len(TREE)


def test_exec_bits_become_0755_and_others_0644(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    for mode in (0o700, 0o744, 0o654, 0o645, 0o600, 0o444, 0o666):
        write(dist, f"f{mode:o}", mode=mode)
    built = pack(dist, tmp_path / "out.zip")
    with zipfile.ZipFile(built.path) as zf:
        modes = {i.filename: i.external_attr >> 16 & 0o7777 for i in zf.infolist()}
    assert modes == {
        "f700": 0o755, "f744": 0o755, "f654": 0o755, "f645": 0o755,
        "f600": 0o644, "f444": 0o644, "f666": 0o644,
    }


def test_small_incompressible_and_empty_files_are_stored(dist: Path, tmp_path: Path) -> None:
    built = pack(dist, tmp_path / "out.zip")
    with zipfile.ZipFile(built.path) as zf:
        assert zf.getinfo("lib/deep-er.js").compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("lib/deep/a-b.js").compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("index.js").compress_type == zipfile.ZIP_DEFLATED


def test_digests_describe_the_file_on_disk(dist: Path, tmp_path: Path) -> None:
    built = pack(dist, tmp_path / "out.zip")
    raw = (tmp_path / "out.zip").read_bytes()
    assert built == Artifact(tmp_path / "out.zip", len(raw), hashlib.sha256(raw).hexdigest(),
                             len(TREE))
    assert built.code_sha256 == base64.b64encode(hashlib.sha256(raw).digest()).decode()


@needs_unzip
def test_info_zip_accepts_the_zip(dist: Path, tmp_path: Path) -> None:
    built = pack(dist, tmp_path / "out.zip")
    subprocess.run([UNZIP, "-tq", str(built.path)], check=True, capture_output=True)


def test_hostile_names_round_trip(tmp_path: Path) -> None:
    names = ["$(rm -rf x)", "`touch pwned`", "a;b", "-rf", "--help", "with space.js",
             "日本語/ファイル.js", "emoji 🚀.txt", "quote'\"s", "new\nline"]
    dist = tmp_path / "dist"
    for i, name in enumerate(names):
        write(dist, name, f"content {i}".encode())
    built = pack(dist, tmp_path / "out.zip")
    with zipfile.ZipFile(built.path) as zf:
        assert zf.namelist() == sorted(names, key=str.encode)
        assert {n: zf.read(n) for n in names} == {
            n: f"content {i}".encode() for i, n in enumerate(names)
        }
    if UNZIP:
        into = tmp_path / "unzipped"
        write(tmp_path, "x")
        subprocess.run([UNZIP, "-q", str(built.path), "-d", str(into)], check=True,
                       cwd=tmp_path)
        assert (tmp_path / "x").exists() and not (tmp_path / "pwned").exists()
        for i, name in enumerate(names):  # Info-ZIP drops control characters: "newline"
            extracted = into / name.replace("\n", "")
            assert extracted.read_bytes() == f"content {i}".encode()


# --- symlinks -------------------------------------------------------------------------


def test_symlink_inside_dist_is_stored_as_the_file(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "lib/real.js", b"real", mode=0o755)
    (dist / "alias.js").symlink_to("lib/real.js")
    built = pack(dist, tmp_path / "out.zip")
    with zipfile.ZipFile(built.path) as zf:
        info = zf.getinfo("alias.js")
        assert zf.read(info) == b"real"
        assert info.external_attr >> 16 == stat.S_IFREG | 0o755


def test_symlinked_folder_inside_dist_is_followed(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "pkg/index.js", b"pkg")
    (dist / "node_modules").mkdir()
    (dist / "node_modules" / "pkg").symlink_to("../pkg")
    built = pack(dist, tmp_path / "out.zip")
    with zipfile.ZipFile(built.path) as zf:
        assert zf.namelist() == ["node_modules/pkg/index.js", "pkg/index.js"]


def test_refuses_symlink_leading_outside(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "ok.js")
    write(tmp_path, "secret.txt")
    (dist / "escape.txt").symlink_to("../secret.txt")
    (dist / "passwd").symlink_to("/etc/passwd")
    message = refusal(dist)
    assert "outside dist" in message
    assert "escape.txt" in message and "passwd" in message


def test_refuses_symlink_loop(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "ok.js")
    (dist / "a").symlink_to("b")
    (dist / "b").symlink_to("a")
    message = refusal(dist)
    assert "symlink loops" in message and "a, b" in message


def test_refuses_symlink_to_an_enclosing_folder(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "lib/ok.js")
    (dist / "lib" / "again").symlink_to("..")
    (dist / "lib" / "here").symlink_to(".")
    message = refusal(dist)
    assert "symlink loops" in message and "lib/again" in message and "lib/here" in message
    assert "outside" not in message


def test_refuses_broken_symlink(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "ok.js")
    (dist / "gone.js").symlink_to("missing.js")
    assert "gone.js" in refusal(dist)


# --- refused content ------------------------------------------------------------------


def test_refuses_fifo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "ok.js")
    os.mkfifo(dist / "pipe")
    message = refusal(dist)
    assert "not regular files" in message and "pipe" in message


def test_refuses_socket(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "ok.js")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(dist / "app.sock"))
        assert "app.sock" in refusal(dist)


def test_refuses_device(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "ok.js")
    try:
        os.mknod(dist / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device needs CAP_MKNOD")
    assert "null" in refusal(dist)


def test_refuses_name_that_is_not_utf8(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "ok.js")
    fd = os.open(os.fsencode(dist) + b"/bad\xff.js", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    message = refusal(dist)
    assert "not UTF-8" in message and "bad\\xff.js" in message


def test_refuses_names_differing_only_by_case(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "lib/A.js")
    write(dist, "lib/a.js")
    message = refusal(dist)
    assert "lib/A.js vs lib/a.js" in message and "case" in message


def test_refuses_folders_differing_only_by_case(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "Lib/one.js")
    write(dist, "lib/two.js")
    assert "Lib vs lib" in refusal(dist)


def test_refuses_names_differing_only_by_normalisation(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    nfc, nfd = (unicodedata.normalize(form, "café.js") for form in ("NFC", "NFD"))
    assert nfc != nfd
    write(dist, nfc)
    write(dist, nfd)
    message = refusal(dist)
    assert nfc in message and nfd in message and "normalisation" in message


def test_refuses_missing_dist(tmp_path: Path) -> None:
    assert "run the build first" in refusal(tmp_path / "dist")


def test_refuses_empty_dist(tmp_path: Path) -> None:
    (tmp_path / "dist" / "only" / "folders").mkdir(parents=True)
    assert "the build produced nothing" in refusal(tmp_path / "dist")


def test_refuses_zip_written_inside_dist(dist: Path) -> None:
    with pytest.raises(ArtifactError, match="inside the dist folder"):
        pack(dist, dist / "release.zip")


@pytest.mark.parametrize(
    "secret", [".git/config", "vendor/lib/.git/HEAD", ".env", "config/.env.production"]
)
def test_refuses_git_and_env_files(dist: Path, secret: str) -> None:
    write(dist, secret, b"TOKEN=hunter2")
    message = refusal(dist)
    assert secret in message
    assert "can ever be deleted" in message and "`allow:`" in message and "vault.yml" in message


def test_lists_every_problem_at_once(dist: Path) -> None:
    write(dist, ".env")
    write(dist, ".git/HEAD")
    os.mkfifo(dist / "pipe")
    message = refusal(dist)
    assert ".env" in message and ".git/HEAD" in message and "pipe" in message


def test_lookalikes_of_secrets_are_packed(dist: Path, tmp_path: Path) -> None:
    for name in (".github/workflows/ci.yml", ".envrc", "env", ".gitignore", "x.env"):
        write(dist, name)
    with zipfile.ZipFile(pack(dist, tmp_path / "out.zip").path) as zf:
        assert ".envrc" in zf.namelist() and ".github/workflows/ci.yml" in zf.namelist()


PRIVATE_KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
CERTIFICATE = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(("secret", "data", "why"), [
    (".npmrc", b"registry=https://npm.acme.test/\n//npm.acme.test/:_authToken=npm_4fG7x\n", "npm auth token"),
    ("node_modules/pkg/.npmrc", b"_auth = dXNlcjpwYXNz\n", "npm auth token"),
    ("id_rsa", PRIVATE_KEY, "private key"),
    ("deploy/id_ed25519", b"anything", "private key"),
    ("certs/server.pem", CERTIFICATE + b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n", "PRIVATE KEY"),
    ("tls.key", b"-----BEGIN EC PRIVATE KEY-----\nMHc\n", "PRIVATE KEY"),
    (".aws/credentials", b"[default]\naws_access_key_id = AKIA", "inside .aws/"),
    ("home/.ssh/config", b"Host *", "inside .ssh/"),
    (".netrc", b"machine github.com login x password y", "credentials file"),
])
def test_refuses_files_that_look_like_credentials(dist: Path, secret: str, data: bytes, why: str) -> None:
    """Finding 7: .npmrc with a token, private keys, .aws/ and .ssh/ never reach the vault."""
    write(dist, secret, data)
    message = refusal(dist)
    assert f"{secret} (" in message and why in message
    assert "look like credentials" in message and "`allow:`" in message and "NPM_CONFIG_USERCONFIG" in message


def test_credential_lookalikes_are_packed(dist: Path, tmp_path: Path) -> None:
    """CA bundles, public keys and token-less .npmrc files are what Lambdas really ship."""
    write(dist, "certifi/cacert.pem", CERTIFICATE * 3)
    write(dist, ".ssh.md", b"notes")
    write(dist, "keys/id_rsa.pub", b"ssh-rsa AAAA")
    write(dist, ".npmrc", b"registry=https://npm.acme.test/\n//npm.acme.test/:_authToken=${NPM_TOKEN}\n")
    with zipfile.ZipFile(pack(dist, tmp_path / "out.zip").path) as zf:
        assert {"certifi/cacert.pem", "keys/id_rsa.pub", ".npmrc", ".ssh.md"} <= set(zf.namelist())


def test_allow_lets_a_deliberate_key_through(dist: Path, tmp_path: Path) -> None:
    write(dist, "fixtures/test-only.pem", PRIVATE_KEY)
    with zipfile.ZipFile(pack(dist, tmp_path / "out.zip", allow=["fixtures/test-only.pem"]).path) as zf:
        assert zf.read("fixtures/test-only.pem") == PRIVATE_KEY


# --- unzipped size --------------------------------------------------------------------


def test_refuses_300_mib_over_lambdas_limit_before_writing(tmp_path: Path) -> None:
    """Finding 6: 300 MiB of zeros would pack into a tiny zip that Lambda refuses (sparse: fast)."""
    dist = tmp_path / "dist"
    write(dist, "index.js", b"x")
    with (dist / "model.bin").open("wb") as sparse:
        sparse.truncate(300 * 2**20)
    message = refusal(dist)
    assert f"is {300 * 2**20 + 1:,} bytes unzipped (300.0 MiB), over Lambda's limit of 262,144,000 bytes" in message
    assert "ship less" in message and "nothing was tagged or uploaded" in message


def test_max_size_lowers_the_limit(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write(dist, "big.txt", b"x" * 2000)
    with pytest.raises(ArtifactError, match="over the service's max-size of 1,000 bytes") as caught:
        pack(dist, tmp_path / "out.zip", max_size=1000)
    assert caught.value.hint and "raise max-size in vault.yml" in caught.value.hint
    assert pack(dist, tmp_path / "out.zip", max_size=2100).file_count >= 1


# --- allow-list -----------------------------------------------------------------------


def test_allow_names_a_file(dist: Path, tmp_path: Path) -> None:
    write(dist, "config/.env.defaults", b"LOG_LEVEL=info")
    built = pack(dist, tmp_path / "out.zip", allow=["config/.env.defaults"])
    with zipfile.ZipFile(built.path) as zf:
        assert zf.read("config/.env.defaults") == b"LOG_LEVEL=info"


def test_allow_names_a_folder(dist: Path, tmp_path: Path) -> None:
    write(dist, "fixtures/.git/HEAD")
    write(dist, "fixtures/.env")
    built = pack(dist, tmp_path / "out.zip", allow=["./fixtures/"])
    with zipfile.ZipFile(built.path) as zf:
        assert {"fixtures/.git/HEAD", "fixtures/.env"} <= set(zf.namelist())


def test_allow_is_exact(dist: Path) -> None:
    write(dist, "a/.env")
    write(dist, "ab/.env")
    write(dist, "a/.env.local")
    message = refusal(dist, allow=("a/.env", "a/.env.loc"))
    assert "ab/.env" in message and "a/.env.local" in message
    assert "a/.env," not in message


# --- size -----------------------------------------------------------------------------


def test_large_file_in_chunks(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write_big(dist / "big.bin", seed=3, size=20 * 2**20)
    write(dist, "small.js", b"x")
    built = pack(dist, tmp_path / "out.zip")
    expected = hashlib.sha256((dist / "big.bin").read_bytes()).hexdigest()
    with zipfile.ZipFile(built.path) as zf:
        info = zf.getinfo("big.bin")
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.file_size == 20 * 2**20
        with zf.open(info) as member:  # zipfile checks the CRC at the end
            digest = hashlib.sha256()
            while block := member.read(1 << 20):
                digest.update(block)
    assert digest.hexdigest() == expected
    if UNZIP:
        subprocess.run([UNZIP, "-tq", str(built.path)], check=True, capture_output=True)


def test_memory_stays_bounded(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    write_big(dist / "a.bin", seed=4, size=40 * 2**20)
    write_big(dist / "b.bin", seed=5, size=20 * 2**20)
    tracemalloc.start()
    try:
        pack(dist, tmp_path / "out.zip", workers=4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20


def test_zip64_structures_are_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real ZIP64 needs 4 GiB or 65,535 entries: lower the limits to exercise the records."""
    monkeypatch.setattr(artifact, "_ZIP64_SIZE", 1000)
    monkeypatch.setattr(artifact, "_ZIP64_COUNT", 3)
    dist = tmp_path / "dist"
    files = {"big.bin": random.Random(6).randbytes(5000), "a.js": b"a" * 2000,
             "b.js": b"b", "c.js": b"c"}
    for name, data in files.items():
        write(dist, name, data)
    built = pack(dist, tmp_path / "out.zip")
    raw = built.path.read_bytes()
    assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw
    with zipfile.ZipFile(built.path) as zf:
        assert zf.testzip() is None
        assert {n: zf.read(n) for n in zf.namelist()} == files
    if UNZIP:
        subprocess.run([UNZIP, "-tq", str(built.path)], check=True, capture_output=True)


def test_pack_log_counts_in_words(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """It said "1 files, 1 bytes"."""
    dist = tmp_path / "dist"
    write(dist, "handler.py", b"x")
    with caplog.at_level("INFO", logger="vault_actions.build.artifact"):
        pack(dist, tmp_path / "one.zip")
    assert ": 1 file, " in caplog.text and "1 files" not in caplog.text
    write(dist, "other.py", b"y")
    with caplog.at_level("INFO", logger="vault_actions.build.artifact"):
        pack(dist, tmp_path / "two.zip")
    assert ": 2 files, " in caplog.text
