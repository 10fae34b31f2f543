"""Calendar feeds: secret iCal URLs of a person's or a schedule's shifts.

Why: people want their on-call time in the calendar they already look at. A feed's token is stored
hashed; it is revoked by its owner and stops answering when the owner's membership is deactivated.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_feed",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("schedule_id", GUID(length=16), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["oncall_schedule.id"],
            name=op.f("fk_calendar_feed_schedule_id_oncall_schedule"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_profile.id"], name=op.f("fk_calendar_feed_user_id_user_profile"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_calendar_feed_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feed")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_hash")),
    )
    with op.batch_alter_table("calendar_feed") as batch_op:
        batch_op.create_index("ix_calendar_feed_workspace_user", ["workspace_id", "user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_calendar_feed_schedule_id"), ["schedule_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calendar_feed") as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_feed_schedule_id"))
        batch_op.drop_index("ix_calendar_feed_workspace_user")
    op.drop_table("calendar_feed")
