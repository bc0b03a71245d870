"""``vault demo``: the whole pipeline on one machine, on an embedded AWS, in one command."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from vault_actions.cli.commands import Result
from vault_actions.errors import ConfigError

if TYPE_CHECKING:
    from vault_actions.demo.emulator import EmbeddedAws
    from vault_actions.demo.story import Console, Fates


def configure(parser: argparse.ArgumentParser) -> None:
    """``--yes``, ``--keep`` and ``--workdir``."""
    parser.add_argument(
        "--yes", action="store_true",
        help="give the story's answer at every gate without asking (needed when stdin "
        "is not a terminal)",
    )
    parser.add_argument(
        "--keep", action="store_true",
        help="leave the embedded AWS running afterwards and print how to point vault at it",
    )
    parser.add_argument(
        "--workdir", metavar="DIR",
        help="a new or empty folder for the git repository, logs and graveyard.md "
        "(default: a new temporary folder)",
    )


def run(args: argparse.Namespace) -> Result:
    """Start the embedded AWS, play the story, render the graveyard, stop everything."""
    from vault_actions.demo.story import Console

    if not args.yes and not sys.stdin.isatty():
        raise ConfigError(
            "vault demo asks for gate decisions on the terminal, but stdin is not a terminal",
            "pass --yes to play the story with its own answers, without asking",
        )
    workdir = _workdir(args.workdir)
    console = Console(sys.stderr, assume_yes=args.yes)
    with _terminate_as_interrupt():
        return _play(args, workdir, console)


def _workdir(raw: str | None) -> Path:
    if raw is None:
        return Path(tempfile.mkdtemp(prefix="vault-demo-"))
    path = Path(raw).absolute()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(
            f"--workdir {path} is not an empty folder",
            "pass a new or empty folder: the demo writes a git repository there",
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so nothing the demo started is left running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class _Played:
    """What the story left: the fates, the graveyard (Markdown and file), status data."""

    fates: Fates
    markdown: str
    graveyard: Path
    drawing: str
    status: Any
    config: Path

    def closing(self, terminal: bool) -> str:
        """The graveyard drawn for a terminal (or, piped, its Markdown) and where the
        Markdown file is."""
        shown = self.drawing if terminal else self.markdown
        return (
            f"{shown.rstrip()}\n\n📄 The graveyard as Markdown (its Mermaid chart renders "
            f"on GitHub): {self.graveyard}"
        )


def _play(args: argparse.Namespace, workdir: Path, console: Console) -> Result:
    from vault_actions.demo.emulator import EmbeddedAws
    from vault_actions.demo.story import GRAVEYARD_TEXT_FILE

    started = time.monotonic()
    console.write("🏦 vault demo: the Release Graveyard, played for real on an embedded AWS")
    console.phase("☁️  The embedded AWS")
    embedded = EmbeddedAws(workdir / "moto.log", detach=args.keep)
    with console.progress("starting the moto server"):
        embedded.start()
    console.ok(f"moto server on {embedded.url} (pid {embedded.pid})")
    try:
        played = _story(args, workdir, console, embedded)
    except BaseException:
        embedded.close()
        raise
    embedded.close(keep=args.keep)
    elapsed = time.monotonic() - started
    _summarise(console, played.fates, elapsed, kept=args.keep)
    text = played.closing(sys.stdout.isatty())
    if args.keep:
        text += "\n\n" + _kept(embedded, played.config)
    data = {
        "workdir": str(workdir),
        "config": str(played.config),
        "graveyard": str(played.graveyard),
        "graveyard_text": str(workdir / GRAVEYARD_TEXT_FILE),
        "outcomes": played.fates.outcomes,
        "live": played.fates.live,
        "status": played.status,
        "duration_seconds": round(elapsed, 1),
        "aws": {"url": embedded.url, "pid": embedded.pid, "running": args.keep},
    }
    return Result(data, text)


def _summarise(console: Console, fates: Fates, elapsed: float, *, kept: bool) -> None:
    console.phase(f"🏁 Played in {elapsed:.1f} s")
    for version, outcome in fates.outcomes.items():
        if outcome == "live":
            console.note(f"🚀 v{version}: live in PROD, Globally Synced to DR")
        else:
            console.note(f"🪦 v{version}: {outcome}")
    console.note("the embedded AWS keeps running (see below)" if kept
                 else "the embedded AWS and the function servers are stopped")


def _story(
    args: argparse.Namespace, workdir: Path, console: Console, embedded: EmbeddedAws
) -> _Played:
    """Provision, serve, write the repository, play, report; servers stopped at the end."""
    from vault_actions.demo import story
    from vault_actions.demo.emulator import FunctionServer
    from vault_actions.integrations import aws
    from vault_actions.store.vault import Vault

    with contextlib.ExitStack() as stack:
        stack.enter_context(story.isolated_environment(embedded.env()))
        stack.enter_context(story.quiet_logs(args.verbose))
        lambdas = {r: aws.client("lambda", r) for r in (story.REGION, story.DR_REGION)}
        clients = story.Clients(
            s3=aws.client("s3", story.REGION), s3_dr=aws.client("s3", story.DR_REGION),
            iam=aws.client("iam", story.REGION), lambdas=lambdas,
            cloudwatch=aws.client("cloudwatch", story.REGION),
        )
        story.provision(clients, console)
        vault = Vault(clients.s3, story.VAULT_BUCKET, story.REGION)
        urls: dict[str, str] = {}
        for env in (*story.PROMOTION, story.DR):
            server = FunctionServer(env, story.functions_of(env),
                                    lambdas[story.environment_region(env)], vault)
            stack.callback(server.close)
            urls[env] = server.url
        console.ok("function servers (API Gateway stand-ins running the deployed bytes): "
                   + ", ".join(f"{env} {url}" for env, url in urls.items()))
        config = story.create_repository(workdir / "repo", urls)
        console.ok(f"git repository {config.parent} with vault.yml")
        console.note(f"(every `vault` command below runs with --config {config})")
        played = story.Story(console, config, urls, verbose=args.verbose,
                             cloudwatch=clients.cloudwatch)
        played.doctor()
        fates = played.play()
        graveyard = workdir / story.GRAVEYARD_FILE
        markdown, drawing, status = played.report(graveyard, workdir / story.GRAVEYARD_TEXT_FILE)
    return _Played(fates, markdown, graveyard, drawing, status, config)


def _kept(embedded: EmbeddedAws, config: Path) -> str:
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in embedded.env().items())
    where = shlex.quote(str(config))
    return "\n".join([
        f"The embedded AWS keeps running (moto server, pid {embedded.pid}). "
        "Point the vault CLI at it:",
        f"  export {exports}",
        "  unset AWS_PROFILE",
        f"  vault status --config {where}",
        f"  vault graveyard --config {where}",
        f"Stop it with: kill {embedded.pid}",
        "The function servers stopped with the demo: `vault smoke` has nothing to reach; "
        "status, graveyard, approve, reject and deploy work.",
    ])
