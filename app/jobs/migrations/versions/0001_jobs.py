"""The jobs table.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON),
        sa.Column("callback_url", sa.Text),
        sa.Column("file_name", sa.String(64)),
        sa.Column("upload_bytes", sa.BigInteger, nullable=False),
        sa.Column("upload_s", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("expires_at", sa.Float),
        sa.Column("frames_done", sa.Integer, nullable=False),
        sa.Column("frames_planned", sa.Integer),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("lease_until", sa.Float),
        sa.Column("db_s", sa.Float, nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("webhook_status", sa.String(16)),
        sa.Column("webhook_attempts", sa.JSON),
        sa.Column("webhook_next_at", sa.Float),
    )
    op.create_index("ix_jobs_status_seq", "jobs", ["status", "seq"])
    op.create_index("ix_jobs_key_hash_seq", "jobs", ["key_hash", "seq"])
    op.create_index("ix_jobs_webhook", "jobs", ["webhook_status", "webhook_next_at"])
    op.create_index("ix_jobs_expires_at", "jobs", ["expires_at"])


def downgrade() -> None:
    op.drop_table("jobs")
