"""lec-kg: an open knowledge graph of international law-enforcement cooperation."""

__version__ = "0.1.0"
