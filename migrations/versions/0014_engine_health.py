"""The pager watches itself: worker heartbeats, heartbeat monitors, and when each delivery was queued
and is due.

Why: a pager that stops paging must itself be noticed. Each process that runs the periodic tick
writes a heartbeat row; /healthz/engine reads them with the tick's lease and the oldest due delivery
(`due_at`, which the sweeper never moves). A heartbeat monitor opens an incident when a job's pings
stop. `queued_at` is where delivery latency counts from.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_log") as batch_op:
        batch_op.add_column(sa.Column("queued_at", DateTimeUTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("due_at", DateTimeUTC(timezone=True), nullable=True))
    op.create_table(
        "worker_heartbeat",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("embedded", sa.Boolean(), nullable=False),
        sa.Column("started_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("seen_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_heartbeat")),
        sa.UniqueConstraint("name", name=op.f("uq_worker_heartbeat_name")),
    )
    with op.batch_alter_table("worker_heartbeat") as batch_op:
        batch_op.create_index(batch_op.f("ix_worker_heartbeat_seen_at"), ["seen_at"], unique=False)
    op.create_table(
        "heartbeat_monitor",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("schedule_id", GUID(length=16), nullable=True),
        sa.Column("escalation_policy_id", GUID(length=16), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("last_ping_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("due_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("incident_id", GUID(length=16), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("interval_minutes BETWEEN 1 AND 44640", name=op.f("ck_heartbeat_monitor_interval_minutes")),
        sa.CheckConstraint(
            "(schedule_id IS NULL) <> (escalation_policy_id IS NULL)", name=op.f("ck_heartbeat_monitor_one_target")
        ),
        sa.ForeignKeyConstraint(
            ["escalation_policy_id"],
            ["escalation_policy.id"],
            name=op.f("fk_heartbeat_monitor_escalation_policy_id_escalation_policy"),
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["oncall_schedule.id"],
            name=op.f("fk_heartbeat_monitor_schedule_id_oncall_schedule"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_heartbeat_monitor_incident_id_incident"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_heartbeat_monitor_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heartbeat_monitor")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_heartbeat_monitor_token_hash")),
        sa.UniqueConstraint("workspace_id", "name", name="uq_heartbeat_monitor_workspace_name"),
    )
    with op.batch_alter_table("heartbeat_monitor") as batch_op:
        batch_op.create_index(batch_op.f("ix_heartbeat_monitor_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_heartbeat_monitor_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_heartbeat_monitor_escalation_policy_id"), ["escalation_policy_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_heartbeat_monitor_due_at"), ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("heartbeat_monitor") as batch_op:
        batch_op.drop_index(batch_op.f("ix_heartbeat_monitor_due_at"))
        batch_op.drop_index(batch_op.f("ix_heartbeat_monitor_escalation_policy_id"))
        batch_op.drop_index(batch_op.f("ix_heartbeat_monitor_schedule_id"))
        batch_op.drop_index(batch_op.f("ix_heartbeat_monitor_workspace_id"))
    op.drop_table("heartbeat_monitor")
    with op.batch_alter_table("worker_heartbeat") as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_heartbeat_seen_at"))
    op.drop_table("worker_heartbeat")
    with op.batch_alter_table("delivery_log") as batch_op:
        batch_op.drop_column("due_at")
        batch_op.drop_column("queued_at")
