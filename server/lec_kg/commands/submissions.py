"""`lec-kg submissions list | show ID | withdraw ID --message WHY`: the submissions of the local
store (`--data-dir`) or, with `--url`, of a running service (a withdrawal there needs the token
in LEC_KG_WRITE_TOKEN).

Exit 0 on success, 1 when the submission is not there (or already withdrawn), 2 when nothing
could be tried (no store, writing off, the service unreachable, a missing argument).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..config import TOKEN_ENV, Settings
from ..errors import Conflict, LecKgError, NotFound
from ..tokens import DEFAULT_NAME
from . import remote


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action in ("show", "withdraw") and not args.id:
        print(f"lec-kg submissions {args.action}: give the submission's id", file=sys.stderr)
        return 2
    if args.action == "withdraw" and not (args.message or "").strip():
        print("lec-kg submissions withdraw: say why with --message", file=sys.stderr)
        return 2
    if args.url:
        return _remote(args)
    return _local(args, settings)


def _remote(args: argparse.Namespace) -> int:
    try:
        if args.action == "list":
            answer = remote.request("GET", args.url, "/submissions")
        elif args.action == "show":
            answer = remote.request("GET", args.url, f"/submissions/{args.id}")
        else:
            answer = remote.request(
                "DELETE",
                args.url,
                f"/submissions/{args.id}",
                params={"message": args.message},
                token=True,
            )
    except remote.RemoteError as exc:
        print(f"lec-kg submissions: {exc}", file=sys.stderr)
        return 2
    if answer.status != 200:
        print(f"lec-kg submissions: {answer.status}: {answer.detail()}", file=sys.stderr)
        return 1 if answer.status in (404, 409) else 2
    body = answer.json()
    _print(args, body["submissions"] if args.action == "list" else body)
    return 0


def _local(args: argparse.Namespace, settings: Settings) -> int:
    from ..auth import token_ring
    from ..engine import build_engine
    from ..submissions import Records, fetch, graph_quads, listing, withdraw

    if settings.in_memory:
        print("lec-kg submissions: needs a data directory (--data-dir)", file=sys.stderr)
        return 2
    if args.action == "withdraw" and not settings.write_token:
        print(f"lec-kg submissions: writing is disabled: set {TOKEN_ENV}", file=sys.stderr)
        return 2
    records = Records(settings.base_iri)
    engine = build_engine(settings)
    try:
        if not engine.is_ready():
            reason = engine.not_ready_reason
            print(f"lec-kg submissions: the store is not usable: {reason}", file=sys.stderr)
            return 2
        if args.action == "list":
            _print(args, listing(engine, records))
            return 0
        if args.action == "withdraw":
            assert settings.write_token is not None
            who = token_ring(settings).identify(settings.write_token) or DEFAULT_NAME
            removed = withdraw(engine, records, args.id, who, args.message.strip())
            _print(args, {**fetch(engine, records, args.id), "removed": removed})
            return 0
        info = fetch(engine, records, args.id)
        _print(args, {**info, "quads": len(graph_quads(engine, info["graph"]))})
        return 0
    except (NotFound, Conflict) as exc:
        print(f"lec-kg submissions: {exc.detail}", file=sys.stderr)
        return 1
    except LecKgError as exc:
        print(f"lec-kg submissions: {exc.title}: {exc.detail}", file=sys.stderr)
        return 2
    finally:
        engine.close()


def _print(args: argparse.Namespace, data: Any) -> None:
    if args.format == "json":
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for item in data if isinstance(data, list) else [data]:
        line = f"{item['id']}  {item['when']}  {item['who']}  {item.get('message') or ''}"
        if item.get("sources"):
            line += f"  (source: {' '.join(item['sources'])})"
        if item.get("withdrawn"):
            w = item["withdrawn"]
            line += f"  [withdrawn {w['when']} by {w['who']}: {w.get('why') or ''}]"
        if "quads" in item:
            line += f"  {item['quads']} quads in <{item['graph']}>"
        if "removed" in item:
            line += f"  ({item['removed']} quads removed)"
        print(line)
    if isinstance(data, list) and not data:
        print("(no submissions)")
