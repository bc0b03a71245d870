#!/usr/bin/env bash
# The one bootstrap of the six actions (each action's install step runs it).
#
# A private venv under $RUNNER_TEMP (keyed by where the suite is checked out) with the
# suite's locked runtime dependencies, every file checked against requirements.lock's
# hashes; the suite itself is used in place through a .pth file (no build). Built aside
# and moved in place, so a failed install never leaves a half venv for the next action.
# In: PYTHON (setup-python's python-path), RUNNER_TEMP, GITHUB_OUTPUT. Out: python=…
set -euo pipefail
suite="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
venv="$RUNNER_TEMP/vault-actions-$(printf '%s' "$suite" | sha256sum | cut -c1-12)"
if [ ! -x "$venv/bin/python" ]; then
  building="$venv.building.$$"
  trap 'rm -rf "$building"' EXIT
  uv venv --quiet --python "$PYTHON" "$building"
  uv pip install --quiet --require-hashes --python "$building/bin/python" \
    -r "$suite/requirements.lock"
  site="$("$building/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
  printf '%s\n' "$suite/lib" > "$site/vault-actions.pth"
  rm -rf "$venv"
  mv "$building" "$venv"
fi
echo "python=$venv/bin/python" >> "$GITHUB_OUTPUT"
