"""``vault ledger reindex|check``: rebuild or check the live index from the events."""

from __future__ import annotations

import argparse

from vault_actions import config
from vault_actions.cli.commands import Result, open_ledger
from vault_actions.errors import ExitCode


def configure(parser: argparse.ArgumentParser) -> None:
    """What to do with the index."""
    parser.add_argument(
        "action", choices=("reindex", "check"),
        help="reindex: add every missing pointer (put-once; safe to rerun); check: compare "
             "the index with the events (exit 4 when it is stale)")


def run(args: argparse.Namespace) -> Result:
    """Read the whole ledger (judged), compare the index with it, add what is missing."""
    from vault_actions.promotion import authority, live

    cfg = config.load(args.config)
    book = open_ledger(cfg)
    assessment = authority.read(cfg, book)
    if args.action == "check":
        found = live.check_index(book, assessment)
        return Result(found.to_json(), found.describe(),
                      ExitCode.OK if found.ok else ExitCode.CHECK_FAILED)
    found = live.reindex(book, assessment)
    added = [k for k, _ in found.missing]
    text = [f"added {len(added)} pointer(s) to {book.uri()}_index/live/"]
    text += [f"  {key}" for key in added]
    if found.unfounded:
        text.append(f"left alone (readers walk past them): {len(found.unfounded)} pointer(s) "
                    "naming no event that counts")
        text += [f"  {key}" for key in found.unfounded]
    return Result({"added": added, "unfounded": found.unfounded}, "\n".join(text))
