"""Shift reminders: each person's choice, and the shift a reminder row is about.

Why: people miss the start of their shift. A person chooses a reminder 15 minutes, an hour or a day
before each shift, by Slack DM, SMS or both (off by default); the reminder is a delivery row written
ahead, which names its shift so that one given away meanwhile is not reminded.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_profile") as batch_op:
        batch_op.add_column(sa.Column("reminder_minutes", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("reminder_by_slack", sa.Boolean(), server_default=sa.text("true"), nullable=False)
        )
        batch_op.add_column(sa.Column("reminder_by_sms", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    with op.batch_alter_table("delivery_log") as batch_op:
        batch_op.add_column(sa.Column("shift_key", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery_log") as batch_op:
        batch_op.drop_column("shift_key")
    with op.batch_alter_table("user_profile") as batch_op:
        batch_op.drop_column("reminder_by_sms")
        batch_op.drop_column("reminder_by_slack")
        batch_op.drop_column("reminder_minutes")
