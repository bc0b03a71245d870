"""The Factory's fixture: a consumer repository with two services, committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git, write_config, write_service


@pytest.fixture
def repo(tmp_path: Path, git_env: None, vault_bucket: str) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_service(root, "price-fetcher", {"index.js": "exports.handler = () => 42;\n", "lib/util.js": "x\n"})
    write_service(root, "config-service", {"index.js": "exports.handler = () => 'cfg';\n"})
    write_config(root, vault_bucket, ["price-fetcher", "config-service"])
    (root / ".gitignore").write_text("dist/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feat: first services")
    return root
