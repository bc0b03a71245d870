"""Benchmark: the composite actions' cold set-up (a private venv with the suite installed).

Times, in the same run, the actions' bootstrap (``action-bootstrap.sh``: ``uv venv`` +
``uv pip install --require-hashes -r requirements.lock`` + a ``.pth`` pointing at the
suite's ``lib/``, with an empty uv cache, as on a fresh runner, then with a warm one: a
later job reuses uv's cache) against the unlocked install it replaced (``-r pyproject.toml``,
no hashes) and the plain alternative (``python -m venv`` + ``pip install <suite>`` with an
empty pip cache). Prints the lock file's size.
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


def bootstrap(work: Path, cache: Path, run: str) -> float:
    """The actions' own bootstrap script, hash-checked, in a fresh RUNNER_TEMP."""
    import os

    runner = work / f"runner-{run}"
    runner.mkdir()
    env = {**os.environ, "UV_CACHE_DIR": str(cache), "RUNNER_TEMP": str(runner),
           "GITHUB_OUTPUT": str(runner / "output"), "PYTHON": sys.executable}
    return timed(["bash", str(SUITE / "action-bootstrap.sh")], env)


def unlocked_setup(work: Path, cache: Path) -> float:
    """What the actions did before the lock: ``-r pyproject.toml``, open ranges, no hashes."""
    import os

    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    env = {**os.environ, "UV_CACHE_DIR": str(cache)}
    venv = work / "uv-venv"
    shutil.rmtree(venv, ignore_errors=True)
    python = str(venv / "bin/python")
    seconds = timed([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env)
    return seconds + timed(
        [uv, "pip", "install", "--quiet", "--python", python, "-r", str(SUITE / "pyproject.toml")],
        env,
    )


def pip_setup(work: Path) -> float:
    import os

    venv = work / "pip-venv"
    env = {**os.environ, "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return timed([sys.executable, "-m", "venv", str(venv)], env) + timed(
        [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", str(SUITE)], env
    )


def help_time(python: str, rounds: int = 5) -> float:
    vault = [python, "-m", "vault_actions", "--help"]
    return min(timed(vault) for _ in range(rounds))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cold = bootstrap(work, work / "uv-cache", "cold")
        warm = bootstrap(work, work / "uv-cache", "warm")
        unlocked_cold = unlocked_setup(work, work / "uv-cache-unlocked")
        unlocked_warm = unlocked_setup(work, work / "uv-cache-unlocked")
        pip = pip_setup(work)
        output = (work / "runner-warm" / "output").read_text()
        help_s = help_time(output.strip().removeprefix("python="))
    lock = (SUITE / "requirements.lock").stat().st_size
    print(f"action set-up, cold (hash-checked lock, empty uv cache): {cold:6.2f} s")
    print(f"action set-up, warm uv cache (hash-checked lock):        {warm:6.2f} s")
    print(f"before the lock (-r pyproject.toml), cold / warm:        {unlocked_cold:6.2f} s / "
          f"{unlocked_warm:.2f} s")
    print(f"pip + venv, no cache (the alternative):                  {pip:6.2f} s")
    print(f"ratio locked cold / unlocked cold:                       {cold / unlocked_cold:6.2f}x")
    print(f"ratio locked cold / pip:                                 {cold / pip:6.2f}x")
    print(f"requirements.lock:                                       {lock / 1024:6.1f} KiB")
    print(f"vault --help:                                            {help_s * 1000:6.0f} ms "
          "(limit 150 ms)")


if __name__ == "__main__":
    main()
