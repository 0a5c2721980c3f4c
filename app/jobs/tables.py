"""The jobs table, as SQLAlchemy Core metadata (the migrations create it; keep them in step).

Times are Unix seconds (float), so that SQLite and PostgreSQL compare them alike."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # order and list cursor
    Column("id", String(32), nullable=False, unique=True),  # the public id
    Column("key_hash", String(64)),  # SHA-256 of the API key that made it; null without keys
    Column("status", String(16), nullable=False),
    Column("options", JSON, nullable=False),
    Column("metadata", JSON),
    Column("callback_url", Text),
    Column("file_name", String(64)),  # the upload, under the data dir's uploads/
    Column("upload_bytes", BigInteger, nullable=False),
    Column("upload_s", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("expires_at", Float),
    Column("frames_done", Integer, nullable=False, default=0),
    Column("frames_planned", Integer),
    Column("runs", Integer, nullable=False, default=0),
    Column("claimed_by", String(64)),
    Column("lease_until", Float),
    Column("db_s", Float, nullable=False, default=0.0),  # time spent in this database, for this job
    Column("result", JSON),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("webhook_status", String(16)),  # pending, delivered, failed
    Column("webhook_attempts", JSON),
    Column("webhook_next_at", Float),
    Index("ix_jobs_status_seq", "status", "seq"),
    Index("ix_jobs_key_hash_seq", "key_hash", "seq"),
    Index("ix_jobs_webhook", "webhook_status", "webhook_next_at"),
    Index("ix_jobs_expires_at", "expires_at"),
)
