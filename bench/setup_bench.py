"""Benchmark: the composite actions' cold set-up (a private venv with the suite installed).

Times, in the same run, the actions' bootstrap (``uv venv`` + ``uv pip install -r
pyproject.toml`` + a ``.pth`` pointing at the suite's ``lib/``, with an empty uv cache, as
on a fresh runner) against the plain alternative (``python -m venv`` + ``pip install
<suite>`` with an empty pip cache), then the warm uv case (a later job reuses uv's cache).
Also times ``vault --help`` (must stay under 0.15 s: no boto3 or PyGithub at start-up).
Needs the package registry. Not a test: run ``python bench/setup_bench.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = Path(__file__).resolve().parent.parent


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def uv_setup(work: Path, cache: Path) -> float:
    import os

    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    env = {**os.environ, "UV_CACHE_DIR": str(cache)}
    venv = work / "uv-venv"
    shutil.rmtree(venv, ignore_errors=True)
    python = str(venv / "bin/python")
    seconds = timed([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env)
    seconds += timed(
        [uv, "pip", "install", "--quiet", "--python", python, "-r", str(SUITE / "pyproject.toml")],
        env,
    )
    start = time.perf_counter()
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    (Path(site) / "vault-actions.pth").write_text(f"{SUITE / 'lib'}\n")
    return seconds + time.perf_counter() - start


def pip_setup(work: Path) -> float:
    import os

    venv = work / "pip-venv"
    env = {**os.environ, "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return timed([sys.executable, "-m", "venv", str(venv)], env) + timed(
        [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", str(SUITE)], env
    )


def help_time(venv: Path, rounds: int = 5) -> float:
    vault = [str(venv / "bin/python"), "-m", "vault_actions", "--help"]
    return min(timed(vault) for _ in range(rounds))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cold = uv_setup(work, work / "uv-cache")
        warm = uv_setup(work, work / "uv-cache")
        pip = pip_setup(work)
        help_s = help_time(work / "uv-venv")
    print(f"action set-up, cold (uv, empty cache): {cold:6.2f} s")
    print(f"action set-up, warm uv cache:          {warm:6.2f} s")
    print(f"pip + venv, no cache (the alternative): {pip:6.2f} s")
    print(f"ratio uv cold / pip:                   {cold / pip:6.2f}x")
    print(f"vault --help:                          {help_s * 1000:6.0f} ms (limit 150 ms)")


if __name__ == "__main__":
    main()
