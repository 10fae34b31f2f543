"""Swap requests, and a delivery attempt counter.

Why: members trade future slots (the request keeps a copy of both slots so a changed slot voids
it), and each outbound message counts its attempts so a retry policy can be seen in the log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 04:27:47.467814
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "swap_request",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=False),
        sa.Column("requester_id", GUID(length=16), nullable=False),
        sa.Column("target_id", GUID(length=16), nullable=False),
        sa.Column("requester_slot_id", GUID(length=16), nullable=False),
        sa.Column("requester_schedule_id", GUID(length=16), nullable=False),
        sa.Column("requester_start", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("requester_end", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("target_slot_id", GUID(length=16), nullable=False),
        sa.Column("target_schedule_id", GUID(length=16), nullable=False),
        sa.Column("target_start", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("target_end", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'void')", name=op.f("ck_swap_request_status")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["user_profile.id"],
            name=op.f("fk_swap_request_requester_id_user_profile"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requester_schedule_id"],
            ["oncall_schedule.id"],
            name=op.f("fk_swap_request_requester_schedule_id_oncall_schedule"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["user_profile.id"], name=op.f("fk_swap_request_target_id_user_profile"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["target_schedule_id"],
            ["oncall_schedule.id"],
            name=op.f("fk_swap_request_target_schedule_id_oncall_schedule"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_swap_request_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_swap_request")),
    )
    with op.batch_alter_table("swap_request", schema=None) as batch_op:
        batch_op.create_index("ix_swap_request_workspace_status", ["workspace_id", "status"], unique=False)

    with op.batch_alter_table("delivery_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("delivery_log", schema=None) as batch_op:
        batch_op.drop_column("attempts")

    with op.batch_alter_table("swap_request", schema=None) as batch_op:
        batch_op.drop_index("ix_swap_request_workspace_status")

    op.drop_table("swap_request")
