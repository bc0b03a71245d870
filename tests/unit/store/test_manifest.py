"""The release manifest: key layout, canonical bytes, round trip, refusals."""

from __future__ import annotations

import json
import re

import pytest
import semver

from vault_actions.errors import VaultError, VersionError
from vault_actions.store.manifest import (
    SCHEMA,
    ArtifactRecord,
    Manifest,
    artifact_key,
    manifest_key,
    precedence,
    validate_version,
    version_prefix,
)

RECORD = ArtifactRecord("price-fetcher", "v1.2.3/price-fetcher.zip", 1234, "ab" * 32,
                        "q83vEjRWeJA=", "3HL4kqtJlcpXrof3vjVhJ7pwWeHNhQwz")
MANIFEST = Manifest("1.2.3", "v1.2.3", "a84d88e", "2026-11-28T04:01:55Z", "octocat",
                    "https://github.com/acme/shop/actions/runs/1", "vault-acme", "us-east-1",
                    (RECORD,))


def test_keys_put_every_object_of_a_version_under_its_prefix() -> None:
    assert version_prefix("1.2.3") == "v1.2.3/"
    assert artifact_key("1.2.3", "price-fetcher") == "v1.2.3/price-fetcher.zip"
    assert manifest_key("1.2.3") == "v1.2.3/manifest.json"


def test_manifest_bytes_are_canonical_and_round_trip() -> None:
    raw = MANIFEST.dumps()
    assert raw.endswith(b"\n")
    data = json.loads(raw)
    assert data["schema"] == SCHEMA and list(data) == sorted(data)
    assert data["artifacts"][0]["code_sha256"] == "q83vEjRWeJA="
    assert Manifest.loads(raw, "s3://vault-acme/v1.2.3/manifest.json") == MANIFEST
    assert Manifest.loads(raw, "x").dumps() == raw  # a rebuilt manifest compares equal


@pytest.mark.parametrize("raw", [b"not json", b"{}", json.dumps({"version": "1.2.3"}).encode(),
                                 json.dumps({**MANIFEST.to_json(), "extra": 1}).encode()])
def test_a_foreign_object_is_refused_naming_where_it_was(raw: bytes) -> None:
    with pytest.raises(VaultError, match=r"s3://vault-acme/v1\.2\.3/manifest\.json is not a valid") as caught:
        Manifest.loads(raw, "s3://vault-acme/v1.2.3/manifest.json")
    assert "written only by `vault build`" in caught.value.hint


def test_a_missing_service_names_the_release_and_the_service() -> None:
    assert MANIFEST.artifact("price-fetcher") is RECORD
    with pytest.raises(VaultError, match="release v1.2.3 has no artifact for service 'quotes'"):
        MANIFEST.artifact("quotes")


@pytest.mark.parametrize(("raw", "clean"), [("1.2.3", "1.2.3"), ("v1.2.3", "1.2.3"),
                                            ("2.0.0-rc.1", "2.0.0-rc.1")])
def test_versions_are_accepted_without_the_v(raw: str, clean: str) -> None:
    assert validate_version(raw) == clean


@pytest.mark.parametrize("raw", ["1.2", "latest", "1.2.3+build.5", "v", "", "1.2.3/../x"])
def test_other_versions_are_refused_with_the_format(raw: str) -> None:
    with pytest.raises(VersionError, match=re.escape(f"version {raw!r} is not allowed")) as caught:
        validate_version(raw)
    assert "MAJOR.MINOR.PATCH" in caught.value.hint


def test_versions_sort_in_semver_precedence() -> None:
    """The cheap sort key (status sorts thousands of names) orders as semver does."""
    names = ["1.0.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
             "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "0.9.9", "1.0.10", "1.0.2",
             "2.0.0-0", "2.0.0-1a", "2.0.0-a", "10.0.0", "1.10.0", "1.2.0-rc.1.2", "1.2.0-rc.1"]
    assert sorted(names, key=precedence) == sorted(names, key=semver.Version.parse)
    with pytest.raises(VersionError):
        precedence("1.0.0+build")
