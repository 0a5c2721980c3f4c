"""Alembic migrations of the jobs database, shipped in the package (a wheel runs them)."""
