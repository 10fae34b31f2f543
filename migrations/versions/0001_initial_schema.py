"""Initial schema: the entities of DESIGN.md's Words.

Why: the first migration; everything later adds to it. On PostgreSQL it also installs
btree_gist and the exclusion constraint that forbids overlapping slots in one schedule.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 03:37:15.491190
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index("ix_login_failure_address_at", ["address", "at"], unique=False)
        batch_op.create_index("ix_login_failure_email_at", ["email", "at"], unique=False)

    op.create_table(
        "user_profile",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("slack_user_id", sa.String(length=32), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_profile")),
        sa.UniqueConstraint("email", name=op.f("uq_user_profile_email")),
    )
    with op.batch_alter_table("user_profile", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_profile_phone"), ["phone"], unique=False)
        batch_op.create_index(batch_op.f("ix_user_profile_slack_user_id"), ["slack_user_id"], unique=False)

    op.create_table(
        "web_session",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("session_id", name="uq_web_session_session_id"),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index("ix_web_session_session_id_unique", ["session_id"], unique=True)

    op.create_table(
        "workspace",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("slack_channel_id", sa.String(length=32), nullable=True),
        sa.Column("last_incident_number", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace")),
        sa.UniqueConstraint("slug", name=op.f("uq_workspace_slug")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("last_used_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("revoked_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_profile.id"], name=op.f("fk_api_token_user_id_user_profile"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_api_token_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_token_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "membership",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_profile.id"], name=op.f("fk_membership_user_id_user_profile"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_membership_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
        sa.UniqueConstraint("workspace_id", "user_id", name="uq_membership_workspace_user"),
    )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_membership_user_id"), ["user_id"], unique=False)

    op.create_table(
        "oncall_schedule",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("rotation", sa.String(length=16), nullable=False),
        sa.Column("shift_hours", sa.Integer(), nullable=True),
        sa.Column("shift_days", sa.Integer(), nullable=True),
        sa.Column("handoff_time", sa.Time(), nullable=False),
        sa.Column("handoff_weekday", sa.Integer(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("rotation_start", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("escalation_delay_minutes", sa.Integer(), nullable=False),
        sa.Column("escalation_to_id", GUID(length=16), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("horizon_weeks", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("rotation IN ('daily', 'weekly', 'custom')", name=op.f("ck_oncall_schedule_rotation")),
        sa.CheckConstraint(
            "escalation_delay_minutes BETWEEN 1 AND 1440", name=op.f("ck_oncall_schedule_escalation_delay")
        ),
        sa.CheckConstraint("horizon_weeks BETWEEN 1 AND 52", name=op.f("ck_oncall_schedule_horizon")),
        sa.ForeignKeyConstraint(
            ["escalation_to_id"],
            ["user_profile.id"],
            name=op.f("fk_oncall_schedule_escalation_to_id_user_profile"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_oncall_schedule_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_schedule")),
        sa.UniqueConstraint("workspace_id", "name", name="uq_oncall_schedule_workspace_name"),
    )
    with op.batch_alter_table("oncall_schedule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oncall_schedule_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "incident",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("schedule_id", GUID(length=16), nullable=True),
        sa.Column("declared_by_id", GUID(length=16), nullable=True),
        sa.Column("slack_channel_id", sa.String(length=32), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("acknowledged_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("resolved_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')", name=op.f("ck_incident_severity")),
        sa.CheckConstraint("status IN ('triggered', 'acknowledged', 'resolved')", name=op.f("ck_incident_status")),
        sa.ForeignKeyConstraint(
            ["declared_by_id"],
            ["user_profile.id"],
            name=op.f("fk_incident_declared_by_id_user_profile"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["oncall_schedule.id"],
            name=op.f("fk_incident_schedule_id_oncall_schedule"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_incident_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
        sa.UniqueConstraint("workspace_id", "number", name="uq_incident_workspace_number"),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_index("ix_incident_slack_post", ["slack_channel_id", "slack_ts"], unique=False)

    op.create_table(
        "oncall_slot",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("schedule_id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("start_time", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("end_time", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("is_override", sa.Boolean(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("end_time > start_time", name=op.f("ck_oncall_slot_positive")),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["oncall_schedule.id"],
            name=op.f("fk_oncall_slot_schedule_id_oncall_schedule"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_profile.id"], name=op.f("fk_oncall_slot_user_id_user_profile"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_slot")),
    )
    with op.batch_alter_table("oncall_slot", schema=None) as batch_op:
        batch_op.create_index("ix_oncall_slot_schedule_start", ["schedule_id", "start_time"], unique=False)
        batch_op.create_index("ix_oncall_slot_user_start", ["user_id", "start_time"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE oncall_slot ADD CONSTRAINT ex_oncall_slot_no_overlap "
            "EXCLUDE USING gist (schedule_id WITH =, tstzrange(start_time, end_time, '[)') WITH &&)"
        )

    op.create_table(
        "rotation_member",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("schedule_id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["oncall_schedule.id"],
            name=op.f("fk_rotation_member_schedule_id_oncall_schedule"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_profile.id"], name=op.f("fk_rotation_member_user_id_user_profile"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_member")),
        sa.UniqueConstraint("schedule_id", "position", name="uq_rotation_member_position"),
        sa.UniqueConstraint("schedule_id", "user_id", name="uq_rotation_member_user"),
    )
    with op.batch_alter_table("rotation_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rotation_member_user_id"), ["user_id"], unique=False)

    op.create_table(
        "incident_responder",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("incident_id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("joined_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('slack', 'sms', 'web')", name=op.f("ck_incident_responder_source")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_responder_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_profile.id"],
            name=op.f("fk_incident_responder_user_id_user_profile"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_responder")),
        sa.UniqueConstraint("incident_id", "user_id", name="uq_incident_responder_user"),
    )
    op.create_table(
        "page",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("incident_id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sent_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("deadline", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("backup_user_id", GUID(length=16), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'acknowledged', 'declined', 'escalated', 'cancelled')", name=op.f("ck_page_status")
        ),
        sa.ForeignKeyConstraint(
            ["backup_user_id"],
            ["user_profile.id"],
            name=op.f("fk_page_backup_user_id_user_profile"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_page_incident_id_incident"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_profile.id"], name=op.f("fk_page_user_id_user_profile"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page")),
        sa.UniqueConstraint("incident_id", "step", name="uq_page_incident_step"),
    )
    with op.batch_alter_table("page", schema=None) as batch_op:
        batch_op.create_index("ix_page_status_deadline", ["status", "deadline"], unique=False)

    op.create_table(
        "timeline_entry",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("incident_id", GUID(length=16), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_timeline_entry_incident_id_incident"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_entry")),
    )
    with op.batch_alter_table("timeline_entry", schema=None) as batch_op:
        batch_op.create_index("ix_timeline_entry_incident_at", ["incident_id", "at"], unique=False)

    op.create_table(
        "delivery_log",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=True),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("incident_id", GUID(length=16), nullable=True),
        sa.Column("page_id", GUID(length=16), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_delivery_log_incident_id_incident"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["page_id"], ["page.id"], name=op.f("fk_delivery_log_page_id_page"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_delivery_log_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_log")),
    )
    with op.batch_alter_table("delivery_log", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_log_workspace_at", ["workspace_id", "at"], unique=False)
        batch_op.create_index("uq_delivery_log_inbound_key", ["channel", "direction", "external_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("delivery_log", schema=None) as batch_op:
        batch_op.drop_index("uq_delivery_log_inbound_key")
        batch_op.drop_index("ix_delivery_log_workspace_at")

    op.drop_table("delivery_log")
    with op.batch_alter_table("timeline_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_entry_incident_at")

    op.drop_table("timeline_entry")
    with op.batch_alter_table("page", schema=None) as batch_op:
        batch_op.drop_index("ix_page_status_deadline")

    op.drop_table("page")
    op.drop_table("incident_responder")
    with op.batch_alter_table("rotation_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rotation_member_user_id"))

    op.drop_table("rotation_member")
    with op.batch_alter_table("oncall_slot", schema=None) as batch_op:
        batch_op.drop_index("ix_oncall_slot_user_start")
        batch_op.drop_index("ix_oncall_slot_schedule_start")

    op.drop_table("oncall_slot")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_slack_post")
        batch_op.drop_index(batch_op.f("ix_incident_schedule_id"))

    op.drop_table("incident")
    with op.batch_alter_table("oncall_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oncall_schedule_workspace_id"))

    op.drop_table("oncall_schedule")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_user_id"))

    op.drop_table("membership")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    op.drop_table("workspace")
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index("ix_web_session_session_id_unique")
        batch_op.drop_index(batch_op.f("ix_web_session_expires_at"))

    op.drop_table("web_session")
    with op.batch_alter_table("user_profile", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_profile_slack_user_id"))
        batch_op.drop_index(batch_op.f("ix_user_profile_phone"))

    op.drop_table("user_profile")
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failure_email_at")
        batch_op.drop_index("ix_login_failure_address_at")

    op.drop_table("login_failure")
