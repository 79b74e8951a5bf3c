"""Thin route modules, one per concern; each exposes an APIRouter named `router`."""
