#!/usr/bin/env bash
# requirements.lock: the runtime dependencies of pyproject.toml (no test tools) pinned
# with their hashes, valid on every Python the actions support (3.11+) and every runner
# OS; the actions install it with --require-hashes (action-bootstrap.sh).
#   scripts/lock.sh          re-compile it (after changing pyproject.toml's dependencies)
#   scripts/lock.sh --check  fail when it is out of sync with pyproject.toml (CI; needs the
#                            package index, keeps the pinned versions that still fit)
set -euo pipefail
cd "$(dirname "$0")/.."
compile() {
  uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
    --quiet --custom-compile-command "scripts/lock.sh" -o "$1"
}
if [ "${1:-}" != "--check" ]; then
  compile requirements.lock
  exit
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp requirements.lock "$work/requirements.lock"
compile "$work/requirements.lock"
if ! diff -u requirements.lock "$work/requirements.lock"; then
  echo "requirements.lock is out of sync with pyproject.toml: run scripts/lock.sh and commit it" >&2
  exit 1
fi
echo "requirements.lock is in sync with pyproject.toml"
