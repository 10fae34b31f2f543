"""Alert sources: Alertmanager, Grafana alerting and generic webhooks that open, group and resolve
incidents; maintenance windows.

Why: most pages come from monitoring. A source's URL token is stored hashed; its request count per
one-minute window lives on its row so that the limit holds across web processes. An alert group is
the incident one groupKey (or dedup_key) opened; a partial unique index keeps one open per group.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspace") as batch_op:
        batch_op.add_column(sa.Column("alerts_silenced_until", DateTimeUTC(timezone=True), nullable=True))
    op.create_table(
        "alert_source",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("schedule_id", GUID(length=16), nullable=True),
        sa.Column("escalation_policy_id", GUID(length=16), nullable=True),
        sa.Column("severity_map", sa.JSON(), nullable=False),
        sa.Column("default_severity", sa.String(length=4), nullable=False),
        sa.Column("auto_resolve", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("maintenance_until", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("rate_window", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("rate_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("limited_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('alertmanager', 'grafana', 'generic')", name=op.f("ck_alert_source_kind")),
        sa.CheckConstraint(
            "default_severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')", name=op.f("ck_alert_source_default_severity")
        ),
        sa.CheckConstraint(
            "(schedule_id IS NULL) <> (escalation_policy_id IS NULL)", name=op.f("ck_alert_source_one_target")
        ),
        sa.ForeignKeyConstraint(
            ["escalation_policy_id"],
            ["escalation_policy.id"],
            name=op.f("fk_alert_source_escalation_policy_id_escalation_policy"),
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["oncall_schedule.id"],
            name=op.f("fk_alert_source_schedule_id_oncall_schedule"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_alert_source_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_source")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_alert_source_token_hash")),
        sa.UniqueConstraint("workspace_id", "name", name="uq_alert_source_workspace_name"),
    )
    with op.batch_alter_table("alert_source") as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_source_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_source_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alert_source_escalation_policy_id"), ["escalation_policy_id"], unique=False
        )
    op.create_table(
        "alert_group",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("source_id", GUID(length=16), nullable=True),
        sa.Column("incident_id", GUID(length=16), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("group_digest", sa.String(length=64), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("firing", sa.JSON(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_alert_group_incident_id_incident"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["alert_source.id"], name=op.f("fk_alert_group_source_id_alert_source"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_group")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_alert_group_incident_id")),
    )
    with op.batch_alter_table("alert_group") as batch_op:
        batch_op.create_index(
            "uq_alert_group_open",
            ["source_id", "group_digest"],
            unique=True,
            postgresql_where=sa.text("is_open"),
            sqlite_where=sa.text("is_open"),
        )
    with op.batch_alter_table("delivery_log") as batch_op:
        batch_op.create_index("ix_delivery_log_channel_target_at", ["channel", "target", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery_log") as batch_op:
        batch_op.drop_index("ix_delivery_log_channel_target_at")
    with op.batch_alter_table("alert_group") as batch_op:
        batch_op.drop_index("uq_alert_group_open")
    op.drop_table("alert_group")
    with op.batch_alter_table("alert_source") as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_source_escalation_policy_id"))
        batch_op.drop_index(batch_op.f("ix_alert_source_schedule_id"))
        batch_op.drop_index(batch_op.f("ix_alert_source_workspace_id"))
    op.drop_table("alert_source")
    with op.batch_alter_table("workspace") as batch_op:
        batch_op.drop_column("alerts_silenced_until")
