"""``vault build --dry-run`` (issue 14, finding 4): a release previewed without credentials.

The command runs in a subprocess with no AWS credentials at all and every AWS and GitHub
endpoint pointing at a closed port: any call would fail the run. It must still print
the next version, the release notes and the zips with their digests, and make no tag.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import git
from tests.unit.build.test_factory import keys


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def offline_env() -> dict[str, str]:
    """The environment of a laptop with no AWS credentials and no reachable AWS/GitHub."""
    nowhere = f"http://127.0.0.1:{closed_port()}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "GITHUB_", "VAULT_")) and k not in ("GH_TOKEN",)}
    env |= {"AWS_ENDPOINT_URL": nowhere, "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_REGION": "us-east-1", "GITHUB_API_URL": nowhere}
    return env


def dry_run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vault_actions", "build", "--dry-run", *args],
                          cwd=repo, env=offline_env(), capture_output=True, text=True,
                          check=False)


def test_finding_4_build_dry_run_needs_no_aws_and_makes_no_tag(
    repo: Path, s3: Any, vault_bucket: str, tmp_path: Path
) -> None:
    out = tmp_path / "preview"
    done = dry_run(repo, "--zips-to", str(out), "--json")

    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["dry_run"] is True and data["version"] == "1.0.0" and data["tag"] == "v1.0.0"
    assert data["previous"] is None
    assert "## What's changed (first release)" in data["release_notes"]
    assert "### Features\n- feat: first services (" in data["release_notes"]
    assert sorted(p.name for p in out.iterdir()) == [
        "config-service.zip", "price-fetcher.zip", "release.json"]
    for service, digest in data["digests"].items():
        assert hashlib.sha256((out / f"{service}.zip").read_bytes()).hexdigest() == digest
    assert git(repo, "tag") == ""  # no tag
    assert keys(s3, vault_bucket) == []  # nothing in the vault


def test_finding_4_build_dry_run_previews_the_next_version_since_the_last_release(
    repo: Path, tmp_path: Path
) -> None:
    git(repo, "tag", "-a", "v1.0.0", "-m", "v1.0.0")
    (repo / "services/price-fetcher/src/index.js").write_text("exports.handler = () => 43;\n")
    git(repo, "commit", "-qam", "fix: the price is rounded")

    done = dry_run(repo)

    assert done.returncode == 0, done.stderr
    assert "Dry run: v1.0.1 would be released from" in done.stdout
    assert "tag v1.0.1 not made; nothing uploaded, no AWS or GitHub call" in done.stdout
    assert "## What's changed since v1.0.0" in done.stdout
    assert "### Bug fixes\n- fix: the price is rounded (" in done.stdout
    assert "first services" not in done.stdout
    folder = Path(done.stdout.split(" zipped into ", 1)[1].split(" (not yet", 1)[0])
    assert folder.is_dir() and (folder / "price-fetcher.zip").is_file()
    assert git(repo, "tag") == "v1.0.0"


def test_build_dry_run_refuses_push(repo: Path) -> None:
    done = dry_run(repo, "--push")
    assert done.returncode == 2 and "--push with --dry-run" in done.stderr
