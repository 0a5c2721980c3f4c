"""The jobs repository on SQLite and on a real PostgreSQL server: claims, leases, progress,
cancelling, pages, expiry, webhook claims, migrations."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from app.jobs.database import make_engine, migrate
from app.jobs.store import Job, JobStore, Outcome
from app.jobs.tables import metadata

T0 = 1_000_000.0
DONE = Outcome("succeeded", 3, 3, result={"frames": []})


def add(store: JobStore, n: int = 1, owner: str | None = None, at: float = T0, callback: str | None = None,
        ) -> list[Job]:
    return [store.create(uuid.uuid4().hex, owner, {"every_n": 2}, {"n": i}, callback, f"{i}.video", 10, 0.1,
                         at + i) for i in range(n)]


def test_concurrent_claims_take_each_job_exactly_once(store: JobStore, database_url: str) -> None:
    created = {job.id for job in add(store, 24)}
    engines = [make_engine(database_url) for _ in range(4)]  # four replicas: their own connections
    start = threading.Barrier(len(engines))

    def replica(index: int) -> list[str]:
        mine, replica_store = [], JobStore(engines[index])
        start.wait()
        while (job := replica_store.claim(f"w{index}", T0 + 100, 30)) is not None:
            mine.append(job.id)
        return mine

    with ThreadPoolExecutor(len(engines)) as pool:
        claimed = [job_id for ids in pool.map(replica, range(len(engines))) for job_id in ids]
    for engine in engines:
        engine.dispose()
    assert sorted(claimed) == sorted(created)  # all of them, none twice


def test_a_lapsed_lease_is_claimed_again_and_the_old_claim_can_no_longer_write(store: JobStore) -> None:
    [job] = add(store)
    first = store.claim("a", T0 + 10, lease_s=5)
    assert first is not None and first.status == "running" and first.runs == 1
    assert store.claim("b", T0 + 12, lease_s=5) is None  # the lease still holds
    assert store.renew(first, "a", 7, 30, lease_until=T0 + 14)
    assert store.get(job.id, None).frames_done == 7
    again = store.claim("b", T0 + 15, lease_s=5)  # a stopped renewing
    assert again is not None and again.runs == 2 and again.frames_done == 0
    assert not store.renew(first, "a", 8, 30, lease_until=T0 + 20)
    assert not store.finish(first, "a", DONE, T0 + 16, 100, 0.1)
    assert store.finish(again, "b", DONE, T0 + 17, 100, 0.1)
    done = store.get(job.id, None)
    assert (done.status, done.result, done.runs) == ("succeeded", {"frames": []}, 2)
    assert done.expires_at == T0 + 117


def test_cancelling_a_running_job_ends_its_claim(store: JobStore) -> None:
    [job] = add(store, callback="http://127.0.0.1:9/hook")
    claimed = store.claim("a", T0 + 1, 30)
    cancelled = store.cancel(job.id, None, T0 + 2, 100)
    assert cancelled.status == "cancelled" and cancelled.webhook_status == "pending"
    assert not store.renew(claimed, "a", 1, None, T0 + 40)
    assert not store.finish(claimed, "a", DONE, T0 + 3, 100, 0.0)
    assert store.cancel(job.id, None, T0 + 4, 100) is None  # finished: nothing to cancel
    assert store.delete(job.id, None).file_name == "0.video"
    assert store.get(job.id, None) is None


def test_released_jobs_are_queued_again(store: JobStore) -> None:
    [job] = add(store)
    store.release(store.claim("a", T0 + 1, 30), "a")
    assert store.get(job.id, None).status == "queued"
    assert store.claim("b", T0 + 2, 30).runs == 2


def test_jobs_are_seen_only_by_their_owner(store: JobStore) -> None:
    [job] = add(store, owner="k1")
    assert store.get(job.id, "k2") is None and store.cancel(job.id, "k2", T0, 1) is None
    assert store.get(job.id, "k1").id == job.id
    assert store.page("k2", None, None, None, 10) == ([], None)


def test_pages_are_newest_first_and_filtered(store: JobStore) -> None:
    jobs = add(store, 5)
    store.finish(store.claim("a", T0 + 10, 30), "a", DONE, T0 + 11, 100, 0.0)  # the oldest succeeds
    seen, cursor = [], None
    while True:
        page, cursor = store.page(None, None, None, cursor, 2)
        seen += [job.id for job in page]
        if cursor is None:
            break
    assert seen == [job.id for job in reversed(jobs)]
    assert [j.id for j in store.page(None, "succeeded", None, None, 10)[0]] == [jobs[0].id]
    assert [j.id for j in store.page(None, None, T0 + 3, None, 10)[0]] == [jobs[4].id, jobs[3].id]
    assert store.count_queued() == 4


def test_expiry_deletes_finished_jobs_past_their_retention(store: JobStore) -> None:
    old, recent, queued = add(store, 3)
    for finished in (T0 + 10, T0 + 50):  # claims take the oldest first: old, then recent
        store.finish(store.claim("a", finished, 30), "a", DONE, finished, 100, 0.0)
    assert store.expire(T0 + 120) == [old.file_name]
    assert store.get(old.id, None) is None
    assert store.get(recent.id, None) is not None and store.get(queued.id, None).status == "queued"


def test_a_due_webhook_is_handed_out_once_per_lease(store: JobStore) -> None:
    [job] = add(store, callback="http://127.0.0.1:9/hook")
    store.finish(store.claim("a", T0, 30), "a", DONE, T0 + 1, 100, 0.0)
    assert store.due_webhook(T0 + 1, lease_s=10).id == job.id
    assert store.due_webhook(T0 + 2, lease_s=10) is None
    assert store.due_webhook(T0 + 12, lease_s=10).id == job.id  # not recorded: due again
    store.record_delivery(job, [{"at": T0 + 12, "status_code": 200, "error": None}], "delivered", None)
    assert store.due_webhook(T0 + 100, lease_s=10) is None
    assert store.get(job.id, None).webhook_attempts[0]["status_code"] == 200


@pytest.mark.parametrize("replicas", [3])
def test_migrations_are_safe_to_run_at_once_and_again(database_url: str, replicas: int) -> None:
    engines = [make_engine(database_url) for _ in range(replicas)]
    with ThreadPoolExecutor(replicas) as pool:
        list(pool.map(migrate, engines))
    migrate(engines[0])
    with engines[0].connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["0001"]
    for engine in engines:
        engine.dispose()


def test_the_embedded_database_is_sqlite_in_wal_mode(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_the_embedded_database_keeps_one_connection_open(tmp_path) -> None:
    # a replica's files stay the same however many of its threads met in the database at once
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    migrate(engine)
    meeting = threading.Barrier(4)

    def meet(_: int) -> None:
        with engine.connect():
            meeting.wait(timeout=30)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(meet, range(4)))
    assert engine.pool.checkedin() == 1
    engine.dispose()


def test_the_migrations_make_the_tables_the_code_declares(store: JobStore) -> None:
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
