"""A real PostgreSQL server for the tests and the benchmark: Debian's `postgresql`, a
fresh cluster in a temporary folder, listening on a loopback port (no socket elsewhere)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy

from tests.e2e.processes import free_port, wait_until

USER = "distilscreen"


def _bindir() -> Path:
    """Debian keeps the server's programs off PATH, under /usr/lib/postgresql/<version>/bin."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    initdb = str(found[-1]) if found else shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is missing: `make test` installs Debian's postgresql package")
    return Path(initdb).resolve().parent


def _as_server_user() -> dict[str, Any]:
    """subprocess arguments that run the server as `postgres` when we are root (initdb
    refuses to run as root); nothing otherwise."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam("postgres")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throwaway server; yields the SQLAlchemy URL of its `postgres` database."""
    bindir, owner = _bindir(), _as_server_user()
    # not under pytest's tmp dirs: those are root's only (0700), and the server may not be root
    root = Path(tempfile.mkdtemp(prefix="distilscreen-pg-"))
    if owner:
        os.chown(root, owner["user"], owner["group"])
    port = free_port()
    try:
        subprocess.run([bindir / "initdb", "-D", root / "data", "-U", USER, "--auth=trust", "-E", "UTF8",
                        "--no-sync"], check=True, capture_output=True, **owner)
        server = subprocess.Popen(
            [bindir / "postgres", "-D", root / "data", "-p", str(port), "-h", "127.0.0.1", "-k", root,
             "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **owner,
        )
        url = f"postgresql+psycopg://{USER}@127.0.0.1:{port}/postgres"
        try:
            wait_until(lambda: _accepts(url), 60, "PostgreSQL to accept connections", server)
            yield url
        finally:
            server.send_signal(signal.SIGINT)  # fast shutdown: clients still connected are cut
            server.wait(timeout=30)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _accepts(url: str) -> bool:
    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect():
            return True
    except sqlalchemy.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server; its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
