"""Benchmark (run by hand): a cancelled ``vault deploy`` — signal to every alias restored.

Starts its own moto server and, in front of it, the latency-injecting proxy the tests use
(tests/aws_proxy.py: +LATENCY on every AWS call). Ten services are live on v1.0.0; each
round starts ``vault deploy --version 1.x.0`` as a subprocess, sends SIGINT once four
aliases have moved (then SIGTERM a few seconds later if it still runs, as GitHub does)
and measures, from the SIGINT:

* restored: the last alias put back (the proxy's last successful UpdateAlias/DeleteAlias);
* exited: the process gone (after recording deploy_failed + rolled_back in the ledger).

Against GitHub's grace period (SIGINT → SIGTERM 7.5 s → SIGKILL 10 s) and against what
the same signal did before (nothing restored: the aliases stayed on the new version).

    python bench/cancel_bench.py [--rounds N] [--latency SECONDS]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import deploy_bench
from vault_actions.integrations import aws
from vault_actions.store.vault import Vault

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.aws_proxy import AwsProxy

SERVICES = [f"svc{i:02d}" for i in range(10)]
GRACE_SECONDS = 10.0
SIGTERM_AFTER = 7.5
VAULT_YML = """\
vault: {{bucket: {bucket}, region: us-east-1}}
services:
{services}
environments:
  - name: bench
    functions: {{{functions}}}
"""


def one_round(proxy: AwsProxy, config: Path, version: str, lambda_: object
              ) -> tuple[float, float, int]:
    """(signal → last alias restored, signal → exit, exit code) of one cancelled deploy."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vault_actions", "deploy", "--config", str(config),
         "--env", "bench", "--version", version, "--parallel", "2"],
        env={**os.environ, "AWS_ENDPOINT_URL": proxy.url},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    seen_before = len(proxy.seen)
    moved_before = len(proxy.moved)
    while len(proxy.moved) - moved_before < 4:
        if proc.poll() is not None:
            raise SystemExit("the deploy ended before four aliases moved")
        time.sleep(0.002)
    signalled = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=SIGTERM_AFTER)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=GRACE_SECONDS - SIGTERM_AFTER)
    exited = time.monotonic()
    restores = [s.at for s in proxy.seen[seen_before:]
                if s.at > signalled and "/aliases/" in s.path
                and s.method in ("PUT", "DELETE") and s.status < 300]
    live = {aws_alias(lambda_, f"bench-{s}") for s in SERVICES}
    if live != {"1"}:
        raise SystemExit(f"not every alias was restored: {live}")
    return max(restores) - signalled, exited - signalled, code


def aws_alias(lambda_: object, function: str) -> str:
    return str(lambda_.get_alias(FunctionName=function, Name="live")["FunctionVersion"])  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            deploy_bench.moto_server(Path(tmp) / "moto.log") as url:
        work = Path(tmp)
        deploy_bench._aws_environment(url)
        s3 = aws.client("s3", deploy_bench.REGION)
        s3.create_bucket(Bucket=deploy_bench.BUCKET, ObjectLockEnabledForBucket=True)
        s3.put_bucket_versioning(Bucket=deploy_bench.BUCKET,
                                 VersioningConfiguration={"Status": "Enabled"})
        vault = Vault(s3, deploy_bench.BUCKET, deploy_bench.REGION)
        lambda_ = aws.client("lambda", deploy_bench.REGION)
        env = deploy_bench.environment("bench", SERVICES)
        deploy_bench.create_functions(lambda_, list(env.functions.values()))
        deploy_bench.store_release(vault, "1.0.0", SERVICES, work)
        deploy_bench.timed_ours(lambda_, vault, env, "1.0.0", 8)  # live: alias version 1
        config = work / "vault.yml"
        config.write_text(VAULT_YML.format(
            bucket=deploy_bench.BUCKET, services="\n".join(f"  - name: {s}" for s in SERVICES),
            functions=", ".join(f"{s}: {f}" for s, f in env.functions.items())))
        rounds = []
        with AwsProxy(url, latency=args.latency) as proxy:
            for i in range(1, args.rounds + 1):
                deploy_bench.store_release(vault, f"1.{i}.0", SERVICES, work)
                rounds.append(one_round(proxy, config, f"1.{i}.0", lambda_))
    restored = statistics.median(r[0] for r in rounds)
    exited = statistics.median(r[1] for r in rounds)
    print(f"10 services, pool 2, +{args.latency * 1000:.0f} ms on every AWS call, "
          f"SIGINT after 4 aliases moved; {args.rounds} rounds (median)")
    print(f"  signal → every alias restored   {restored:6.2f} s")
    print(f"  signal → exit (ledger recorded) {exited:6.2f} s   exit codes "
          f"{sorted({r[2] for r in rounds})}")
    print(f"  GitHub's grace (SIGKILL)        {GRACE_SECONDS:6.2f} s   "
          f"ratio exit / grace {exited / GRACE_SECONDS:.2f}")
    print("  before (same signal)            never: the pool drained, every alias stayed on "
          "the new version, nothing recorded")


if __name__ == "__main__":
    main()
