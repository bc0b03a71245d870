"""``vault ledger reindex|check``: rebuild or check the derived index from the events."""

from __future__ import annotations

import argparse

from vault_actions import config, context
from vault_actions.cli.commands import Result, open_ledger
from vault_actions.errors import ExitCode


def configure(parser: argparse.ArgumentParser) -> None:
    """What to do with the index."""
    parser.add_argument(
        "action", choices=("reindex", "check"),
        help="reindex: add every missing pointer and feed entry (put-once; safe to rerun) "
             "and write a summary; check: compare the index, the feed and the newest summary "
             "with the events (exit 4 when they disagree)")


def run(args: argparse.Namespace) -> Result:
    """Read the whole ledger (judged), compare the index with it, add what is missing."""
    from vault_actions.promotion import authority, derived

    cfg = config.load(args.config)
    book = open_ledger(cfg)
    assessment = authority.read(cfg, book)
    if args.action == "check":
        found = derived.check_index(cfg, book, assessment)
        return Result(found.to_json(), found.describe(),
                      ExitCode.OK if found.ok else ExitCode.CHECK_FAILED)
    found, summary = derived.reindex(cfg, book, assessment, context.RunContext.from_env())
    added = [k for k, _ in found.missing]
    fed = [k for k, _ in found.unfed]
    text = [f"added {len(added)} pointer(s) to {book.uri()}_index/live/"]
    text += [f"  {key}" for key in added]
    text.append(f"added {len(fed)} feed entr{'y' if len(fed) == 1 else 'ies'} to "
                f"{book.uri()}_index/feed/")
    text.append(f"wrote the summary {summary}" if summary else
                "wrote no summary: outside Actions one counts only where vault.yml's "
                "ledger.allow-local lists summary")
    if found.unfounded:
        text.append(f"left alone (readers walk past them): {len(found.unfounded)} pointer(s) "
                    "naming no event that counts")
        text += [f"  {key}" for key in found.unfounded]
    return Result({"added": added, "fed": fed, "summary": summary,
                   "unfounded": found.unfounded},
                  "\n".join(text))
