"""Periodic lease table and the slot end-time index.

Why: the periodic tick (extending rotations, later the page sweeper) must run once per interval
across any number of processes, so each job claims its row here first; and "who is on call at T"
becomes one index probe on (schedule_id, end_time) however long the history is.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:05:54.888842
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "periodic_lease",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_run_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_periodic_lease")),
        sa.UniqueConstraint("name", name=op.f("uq_periodic_lease_name")),
    )
    with op.batch_alter_table("oncall_slot", schema=None) as batch_op:
        batch_op.create_index("ix_oncall_slot_schedule_end", ["schedule_id", "end_time"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oncall_slot", schema=None) as batch_op:
        batch_op.drop_index("ix_oncall_slot_schedule_end")

    op.drop_table("periodic_lease")
