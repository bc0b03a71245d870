"""Benchmark (run by hand): ``deploy_release`` against the manual's literal deploy loop.

Starts its own moto server on a free port, stores a release of 20 services in a vault
bucket and deploys it to 20 Lambda functions two ways in the same run:

* ours: ``deploy_release`` (tamper check, function and region checks, update from the
  pinned object version, wait, publish, CodeSha256 check, alias), pool of 8;
* the manual's (Phase 3.1): a bash loop of ``aws s3 cp`` (fetch from the vault) and
  ``aws lambda update-function-code --s3-bucket --s3-key`` per service, with the AWS CLI.

Target: ours ≤ 0.1 × the loop. Then the same deploy with 100 ms added to every Lambda
call, at pool sizes 1, 4, 8 and 20: the wall time follows services ÷ pool size.

    python bench/deploy_bench.py [--services N] [--latency SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vault_actions.config import Environment
from vault_actions.deliver.lambdas import deploy_release
from vault_actions.integrations import aws
from vault_actions.store.manifest import Manifest, artifact_key
from vault_actions.store.vault import Vault

REGION = "us-east-1"
BUCKET = "bench-vault"
ZIP_BYTES = 256 * 2**10
POOLS = (1, 4, 8, 20)

MANUAL_LOOP = """\
set -euo pipefail
bucket=$1 version=$2 work=$3
shift 3
while [ $# -gt 0 ]; do
  service=$1 function=$2
  shift 2
  aws s3 cp "s3://$bucket/v$version/$service.zip" "$work/$service.zip" --only-show-errors
  aws lambda update-function-code --function-name "$function" \\
    --s3-bucket "$bucket" --s3-key "v$version/$service.zip" > /dev/null
done
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """A moto_server subprocess on a free port; its URL."""
    port = _free_port()
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    with log.open("wb") as out:
        proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _aws_environment(url: str) -> None:
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench", "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": url, "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    })


def _zip(service: str, version: str) -> bytes:
    """A zip of one handler and ZIP_BYTES of incompressible filler (one per service)."""
    rng = random.Random(f"{service}-{version}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("index.py", f"def handler(event, context):\n    return {version!r}\n")
        archive.writestr("vendor.bin", rng.randbytes(ZIP_BYTES))
    return buffer.getvalue()


def store_release(vault: Vault, version: str, services: list[str], work: Path) -> None:
    """A complete release in the vault, as the Factory leaves it."""
    records = []
    for service in services:
        data = _zip(service, version)
        path = work / f"{service}-{version}.zip"
        path.write_bytes(data)
        records.append(vault.store_artifact(version, service, artifact_key(version, service),
                                            path, hashlib.sha256(data).hexdigest()))
    vault.store_manifest(Manifest(
        version=version, tag=f"v{version}", commit="0" * 40, built_at="2026-01-01T00:00:00+00:00",
        built_by="bench", run_url=None, bucket=vault.bucket, region=REGION,
        artifacts=tuple(records),
    ))


def create_functions(lambda_: Any, names: list[str]) -> None:
    role = aws.client("iam", REGION).create_role(
        RoleName=f"bench-{names[0]}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    seed = _zip("seed", "0.0.0")
    for name in names:
        lambda_.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                Handler="index.handler", Code={"ZipFile": seed})


def environment(prefix: str, services: list[str]) -> Environment:
    return Environment(name="bench", region=REGION, bucket=BUCKET,
                       functions={s: f"{prefix}-{s}" for s in services})


def timed_ours(lambda_: Any, vault: Vault, env: Environment, version: str, pool: int) -> float:
    started = time.perf_counter()
    result = deploy_release(lambda_, vault, env, version, parallel=pool)
    elapsed = time.perf_counter() - started
    if not result.ok or any(s.status != "deployed" for s in result.services):
        raise SystemExit(f"deploy did not deploy everything: {result.to_json()}")
    return elapsed


def timed_manual(env: Environment, version: str, work: Path) -> float:
    argv = ["bash", "-c", MANUAL_LOOP, "manual-loop", BUCKET, version, str(work)]
    for service, function in env.functions.items():
        argv += [service, function]
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - started


def add_latency(lambda_: Any, seconds: float) -> None:
    """Every Lambda request waits ``seconds`` before it is sent (retries included)."""
    lambda_.meta.events.register("before-send.lambda", lambda **_: time.sleep(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    services = [f"svc{i:02d}" for i in range(args.services)]
    with tempfile.TemporaryDirectory() as tmp, moto_server(Path(tmp) / "moto.log") as url:
        work = Path(tmp)
        _aws_environment(url)
        s3 = aws.client("s3", REGION)
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        vault = Vault(s3, BUCKET, REGION)
        lambda_ = aws.client("lambda", REGION)
        ours, manual = environment("ours", services), environment("manual", services)
        create_functions(lambda_, [*ours.functions.values(), *manual.functions.values()])
        store_release(vault, "1.0.0", services, work)

        print(f"{args.services} services, {ZIP_BYTES // 1024} KiB zips, moto server at {url}")
        ours_s = timed_ours(lambda_, vault, ours, "1.0.0", 8)
        manual_s = timed_manual(manual, "1.0.0", work)
        print(f"  deploy_release (pool 8)           {ours_s:6.2f} s")
        print(f"  manual loop (aws s3 cp + update)  {manual_s:6.2f} s")
        print(f"  ratio ours / manual               {ours_s / manual_s:6.3f}  (target ≤ 0.1)")

        add_latency(lambda_, args.latency)
        print(f"\n+{args.latency * 1000:.0f} ms on every Lambda call")
        print("  pool  waves (⌈services/pool⌉)  wall (s)  wall/wave (s)")
        for i, pool in enumerate(POOLS, start=1):
            version = f"1.{i}.0"
            store_release(vault, version, services, work)
            wall = timed_ours(lambda_, vault, ours, version, pool)
            waves = math.ceil(args.services / pool)
            print(f"  {pool:>4}  {waves:>22}  {wall:8.2f}  {wall / waves:13.2f}")


if __name__ == "__main__":
    main()
