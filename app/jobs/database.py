"""The jobs database: an engine for the configured URL (SQLite in the data dir by default,
PostgreSQL for several replicas), brought to the newest schema with Alembic at start."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_FILE = "jobs.sqlite3"
# PostgreSQL: one migrating replica at a time (a transaction-scoped advisory lock)
_MIGRATION_LOCK = 0x6A6F6273


def database_url(url: str | None, data_dir: Path) -> str:
    """`url`, or the embedded default: SQLite in `data_dir`."""
    return url or f"sqlite:///{data_dir / SQLITE_FILE}"


def make_engine(url: str) -> Engine:
    """An engine for `url`. SQLite runs in WAL mode (readers never wait for the writer), and
    each transaction takes the write lock up front (BEGIN IMMEDIATE), so that two processes'
    read-then-write transactions queue instead of failing half-way."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    # one connection kept (the threads that meet in the file at once get their own, closed
    # after): a replica's open files stay the same however its calls overlap
    engine = create_engine(url, pool_size=1, connect_args={"timeout": 30, "check_same_thread": False})
    if engine.url.database and engine.url.database != ":memory:":
        _wal(engine.url.database)

    @event.listens_for(engine, "connect")
    def _connect(connection: sqlite3.Connection, _record: Any) -> None:
        connection.isolation_level = None  # transactions are begun by the listener below
        for pragma in ("busy_timeout=30000", "synchronous=NORMAL", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _wal(path: str) -> None:
    """Put the SQLite file in WAL mode, which the file keeps, once, before the engine's
    connections use it: switching fails at once (no busy wait) while another connection
    is in the file, so it is retried for a while (another process starting at once)."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        for _ in range(100):
            with contextlib.suppress(sqlite3.OperationalError):
                if connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                    return
            time.sleep(0.05)
        raise sqlite3.OperationalError(f"{path}: could not switch to WAL mode (the file stayed busy)")


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest migration, one replica at a time (SQLite: the
    IMMEDIATE transaction's write lock; PostgreSQL: an advisory lock)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
