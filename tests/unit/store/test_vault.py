"""The put-once vault against a real moto server."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

from tests.conftest import make_vault_bucket
from vault_actions.errors import ImmutableVersionError, TamperError, VaultError
from vault_actions.integrations import aws
from vault_actions.store.manifest import Manifest, artifact_key
from vault_actions.store.vault import Vault, b64_sha256


def zip_file(tmp_path: Path, name: str, data: bytes) -> tuple[Path, str]:
    import hashlib

    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def error_response(status: int, code: str, message: str = "injected") -> AWSResponse:
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
        f"<Message>{message}</Message></Error>"
    ).encode()
    raw = _Raw(body)
    return AWSResponse("http://injected", status, {"Content-Type": "application/xml"}, raw)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def inject(client: Any, operation: str, responses: list[AWSResponse]) -> list[str]:
    """Answer the next calls of ``operation`` with ``responses``; record every attempt."""
    seen: list[str] = []

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        seen.append(request.url)
        return responses.pop(0) if responses else None

    client.meta.events.register(f"before-send.s3.{operation}", hook)
    return seen


def manifest_for(version: str, bucket: str, records: tuple[Any, ...]) -> Manifest:
    return Manifest(
        version=version, tag=f"v{version}", commit="c0ffee" * 6 + "abcd", built_at="2026-11-28T00:00:00+00:00",
        built_by="octocat", run_url=None, bucket=bucket, region="us-east-1", artifacts=records,
    )


def test_artifact_is_put_once_with_checksum(s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    vault = Vault(s3, vault_bucket, "us-east-1")
    path, digest = zip_file(tmp_path, "a.zip", b"zip bytes")
    record = vault.store_artifact("1.0.0", "price-fetcher", artifact_key("1.0.0", "price-fetcher"), path, digest)

    head = s3.head_object(Bucket=vault_bucket, Key=record.key, ChecksumMode="ENABLED")
    assert record.key == "v1.0.0/price-fetcher.zip"
    assert head["VersionId"] == record.version_id
    assert head["ChecksumSHA256"] == record.code_sha256 == b64_sha256(b"zip bytes")
    assert record.size == len(b"zip bytes")

    other, other_digest = zip_file(tmp_path, "b.zip", b"other bytes")
    with pytest.raises(ImmutableVersionError, match="v1.0.0 is already in the vault; versions are immutable, release a new version"):
        vault.store_artifact("1.0.0", "price-fetcher", record.key, other, other_digest)
    versions = s3.list_object_versions(Bucket=vault_bucket, Prefix=record.key)["Versions"]
    assert [v["VersionId"] for v in versions] == [record.version_id]
    assert s3.get_object(Bucket=vault_bucket, Key=record.key)["Body"].read() == b"zip bytes"


def test_same_bytes_again_is_recognised_not_an_error(s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    vault = Vault(s3, vault_bucket, "us-east-1")
    path, digest = zip_file(tmp_path, "a.zip", b"identical")
    key = artifact_key("1.0.0", "svc")
    first = vault.store_artifact("1.0.0", "svc", key, path, digest)
    again = vault.store_artifact("1.0.0", "svc", key, path, digest)
    assert again == first


def test_retry_after_a_landed_put_is_recognised(s3: Any, vault_bucket: str) -> None:
    """The first PUT reaches S3 but the connection drops before the answer: botocore
    retries, gets 412 on our own bytes, and that is success."""
    vault = Vault(s3, vault_bucket, "us-east-1")
    attempts: list[int] = []

    def land_then_drop(request: Any, **_: Any) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            body = request.body if isinstance(request.body, bytes) else request.body.read()
            requests.put(request.url, data=body, headers=dict(request.headers), timeout=10).raise_for_status()
            raise ConnectionClosedError(endpoint_url=request.url)

    s3.meta.events.register("before-send.s3.PutObject", land_then_drop)
    raw = b'{"manifest": true}'
    version_id = vault.put_once("v1.0.0/manifest.json", raw, b64_sha256(raw), VaultError("taken"))
    assert len(attempts) == 2
    assert s3.head_object(Bucket=vault_bucket, Key="v1.0.0/manifest.json")["VersionId"] == version_id


def test_conditional_request_conflict_is_retried(s3: Any, vault_bucket: str) -> None:
    vault = Vault(s3, vault_bucket, "us-east-1")
    seen = inject(s3, "PutObject", [error_response(409, "ConditionalRequestConflict")] * 2)
    raw = b"payload"
    vault.put_once("v1.0.0/x.zip", raw, b64_sha256(raw), VaultError("taken"))
    assert len(seen) == 3
    assert s3.get_object(Bucket=vault_bucket, Key="v1.0.0/x.zip")["Body"].read() == raw


def test_slowdown_is_retried(s3: Any, vault_bucket: str) -> None:
    vault = Vault(s3, vault_bucket, "us-east-1")
    seen = inject(s3, "PutObject", [error_response(503, "SlowDown", "Please reduce your request rate.")] * 2)
    raw = b"payload"
    vault.put_once("v1.0.0/y.zip", raw, b64_sha256(raw), VaultError("taken"))
    assert len(seen) == 3


def test_access_denied_is_explained(s3: Any, vault_bucket: str) -> None:
    vault = Vault(s3, vault_bucket, "us-east-1")
    inject(s3, "PutObject", [error_response(403, "AccessDenied", "Access Denied")])
    raw = b"payload"
    with pytest.raises(VaultError, match=r"access denied: writing s3://.*/v1.0.0/z.zip") as err:
        vault.put_once("v1.0.0/z.zip", raw, b64_sha256(raw), VaultError("taken"))
    assert err.value.hint and "s3:PutObject" in err.value.hint


def test_missing_bucket_is_explained(s3: Any) -> None:
    vault = Vault(s3, "no-such-vault", "us-east-1")
    with pytest.raises(VaultError) as err:
        vault.check_bucket()
    # it said "(reading versioning of)": the sentence lost its object
    assert err.value.message == (
        "vault bucket 'no-such-vault' does not exist (reading versioning of s3://no-such-vault)"
    )


def test_bucket_without_versioning_is_refused(s3: Any) -> None:
    s3.create_bucket(Bucket="plain-bucket")
    with pytest.raises(VaultError, match="does not have versioning enabled"):
        Vault(s3, "plain-bucket", "us-east-1").check_bucket()


def test_bucket_in_another_region_is_refused(s3: Any) -> None:
    make_vault_bucket(s3, "west-vault", region="us-west-2")
    with pytest.raises(VaultError, match="is in us-west-2, not us-east-1"):
        Vault(s3, "west-vault", "us-east-1").check_bucket()


def test_two_concurrent_builds_of_one_version(s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    """Exactly one wins; the other fails clearly; the object and manifest are the winner's."""
    barrier = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def build(name: str, data: bytes) -> None:
        client = aws.client("s3", "us-east-1")
        vault = Vault(client, vault_bucket, "us-east-1")
        path, digest = zip_file(tmp_path, f"{name}.zip", data)
        barrier.wait()
        try:
            record = vault.store_artifact("2.0.0", "svc", artifact_key("2.0.0", "svc"), path, digest)
            vault.store_manifest(manifest_for("2.0.0", vault_bucket, (record,)))
            outcomes[name] = record
        except ImmutableVersionError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=build, args=(n, n.encode() * 1000)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [n for n, o in outcomes.items() if not isinstance(o, Exception)]
    losers = [o for o in outcomes.values() if isinstance(o, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    assert "already in the vault" in str(losers[0])
    body = s3.get_object(Bucket=vault_bucket, Key="v2.0.0/svc.zip")["Body"].read()
    assert body == winners[0].encode() * 1000
    manifest = Vault(s3, vault_bucket, "us-east-1").require_manifest("2.0.0")
    assert manifest.artifacts[0].version_id == outcomes[winners[0]].version_id


def test_manifest_is_put_once_and_required(s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    vault = Vault(s3, vault_bucket, "us-east-1")
    with pytest.raises(VaultError, match="v3.0.0 has no manifest"):
        vault.require_manifest("3.0.0")
    path, digest = zip_file(tmp_path, "a.zip", b"a")
    record = vault.store_artifact("3.0.0", "svc", artifact_key("3.0.0", "svc"), path, digest)
    manifest = manifest_for("3.0.0", vault_bucket, (record,))
    vault.store_manifest(manifest)
    assert vault.require_manifest("3.0.0") == manifest
    later = manifest_for("3.0.0", vault_bucket, (record,))
    object.__setattr__(later, "built_by", "someone-else")
    with pytest.raises(ImmutableVersionError):
        vault.store_manifest(later)


def test_tampered_object_is_refused(s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    vault = Vault(s3, vault_bucket, "us-east-1")
    path, digest = zip_file(tmp_path, "a.zip", b"original")
    record = vault.store_artifact("4.0.0", "svc", artifact_key("4.0.0", "svc"), path, digest)
    vault.verify(record)
    s3.put_object(Bucket=vault_bucket, Key=record.key, Body=b"evil", ChecksumAlgorithm="SHA256")
    with pytest.raises(TamperError, match="behind its back"):
        vault.verify(record)


def test_corrupt_manifest_is_reported(s3: Any, vault_bucket: str) -> None:
    s3.put_object(Bucket=vault_bucket, Key="v5.0.0/manifest.json", Body=b"not json", ChecksumAlgorithm="SHA256")
    with pytest.raises(VaultError, match="is not a valid release manifest"):
        Vault(s3, vault_bucket, "us-east-1").manifest("5.0.0")


def test_deleted_object_is_tampering(s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    vault = Vault(s3, vault_bucket, "us-east-1")
    path, digest = zip_file(tmp_path, "a.zip", b"original")
    record = vault.store_artifact("6.0.0", "svc", artifact_key("6.0.0", "svc"), path, digest)
    s3.delete_object(Bucket=vault_bucket, Key=record.key)  # a delete marker on top
    with pytest.raises(TamperError, match="was deleted after the manifest recorded"):
        vault.verify(record)
