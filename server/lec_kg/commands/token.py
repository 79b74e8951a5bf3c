"""`lec-kg token NAME`: make a new write token and the `name:sha256hex` line that admits it.

The token goes to the person who will write (it is printed once, on stdout's first line); the
line goes into the server's token file (`--tokens-file`) or `LEC_KG_WRITE_TOKENS`. The
server keeps only the hash and records writes under NAME.
"""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..tokens import NAME, new_token, token_line


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not NAME.match(args.name):
        print(
            f"lec-kg token: {args.name!r} is not a token name: letters, digits, '.', '_', '@' "
            "or '-', at most 64",
            file=sys.stderr,
        )
        return 2
    token = new_token()
    print(token)
    print(token_line(args.name, token))
    print(
        "lec-kg token: the first line is the token (give it to its holder; it is not kept), "
        "the second the line for the token file (--tokens-file) or LEC_KG_WRITE_TOKENS",
        file=sys.stderr,
    )
    return 0
