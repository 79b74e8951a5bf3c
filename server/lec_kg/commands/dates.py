"""`lec-kg dates [--check]`: write graph/date-bounds.ttl, the computed date bounds of the facts.

Every node with lec:date, lec:notBefore, lec:notAfter, lec:startDate or lec:endDate gets
lec:earliestDate and lec:latestDate (xsd:date), computed from the precision the source gives
(see `lec_kg.datebounds`). Exit 0 when written (or, with --check, up to date), 1 when --check
finds the file stale or missing, 2 when the bounds cannot be written.
"""

from __future__ import annotations

import argparse

from ..config import Settings
from ..datebounds import run as write_bounds


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Write (or check) graph/date-bounds.ttl under the source folder."""
    return write_bounds(settings.source_dir, check=args.check)
