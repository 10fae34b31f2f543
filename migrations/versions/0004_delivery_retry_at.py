"""When a delivery is next due, so a sweeper can resend what a lost message left behind.

Why: a delivery row waiting for a retry, or queued while Redis was down, must be sent even when its
Dramatiq message is gone (worker killed, Redis flushed). The sweeper looks rows up by status and time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_log") as batch_op:
        batch_op.add_column(sa.Column("retry_at", DateTimeUTC(timezone=True), nullable=True))
        batch_op.create_index("ix_delivery_log_status_at", ["status", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery_log") as batch_op:
        batch_op.drop_index("ix_delivery_log_status_at")
        batch_op.drop_column("retry_at")
