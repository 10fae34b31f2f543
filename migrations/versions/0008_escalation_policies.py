"""Escalation policies: several steps, repeats, and a chain copied onto each incident.

Why: one backup after one delay is all the seed could page. Policies add ordered steps (schedules or
people), a delay each, and repeats; an incident copies its chain when it opens so later edits never
change it, and the chain's deadline moves from the page onto the incident (one per step, however
many people the step pages). Pages get a round; a step may page several people, so the one-page-
per-step constraint becomes one page per person per step and round.

Upgrading keeps open incidents exactly as they were: each gets the chain it was already running
([its schedule's primary] → delay → [the backup frozen on its primary's page]), standing at the step
its last page was at, due when that page's deadline comes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 00:20:20.467616
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalation_policy",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("repeat BETWEEN 0 AND 5", name=op.f("ck_escalation_policy_repeat")),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_escalation_policy_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_policy")),
        sa.UniqueConstraint("workspace_id", "name", name="uq_escalation_policy_workspace_name"),
    )
    op.create_index(op.f("ix_escalation_policy_workspace_id"), "escalation_policy", ["workspace_id"], unique=False)
    op.create_table(
        "escalation_step",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("policy_id", GUID(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("delay_minutes", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("delay_minutes BETWEEN 1 AND 1440", name=op.f("ck_escalation_step_delay")),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["escalation_policy.id"],
            name=op.f("fk_escalation_step_policy_id_escalation_policy"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_step")),
        sa.UniqueConstraint("policy_id", "position", name="uq_escalation_step_position"),
    )
    op.create_table(
        "escalation_target",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("step_id", GUID(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("schedule_id", GUID(length=16), nullable=True),
        sa.Column("user_id", GUID(length=16), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("(schedule_id IS NULL) <> (user_id IS NULL)", name=op.f("ck_escalation_target_one_kind")),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["oncall_schedule.id"],
            name=op.f("fk_escalation_target_schedule_id_oncall_schedule"),
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["escalation_step.id"],
            name=op.f("fk_escalation_target_step_id_escalation_step"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_profile.id"], name=op.f("fk_escalation_target_user_id_user_profile"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_target")),
        sa.UniqueConstraint("step_id", "position", name="uq_escalation_target_position"),
    )
    op.create_index(op.f("ix_escalation_target_schedule_id"), "escalation_target", ["schedule_id"], unique=False)
    op.create_index(op.f("ix_escalation_target_step_id"), "escalation_target", ["step_id"], unique=False)
    op.create_index(op.f("ix_escalation_target_user_id"), "escalation_target", ["user_id"], unique=False)
    with op.batch_alter_table("incident") as batch_op:
        batch_op.add_column(sa.Column("escalation_policy_id", GUID(length=16), nullable=True))
        batch_op.add_column(sa.Column("chain", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("chain_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("chain_round", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("escalation_due_at", DateTimeUTC(timezone=True), nullable=True))
        batch_op.create_index("ix_incident_status_escalation_due", ["status", "escalation_due_at"], unique=False)
        batch_op.create_foreign_key(
            op.f("fk_incident_escalation_policy_id_escalation_policy"),
            "escalation_policy",
            ["escalation_policy_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("oncall_schedule") as batch_op:
        batch_op.add_column(sa.Column("escalation_policy_id", GUID(length=16), nullable=True))
        batch_op.create_index(op.f("ix_oncall_schedule_escalation_policy_id"), ["escalation_policy_id"], unique=False)
        batch_op.create_foreign_key(
            op.f("fk_oncall_schedule_escalation_policy_id_escalation_policy"),
            "escalation_policy",
            ["escalation_policy_id"],
            ["id"],
        )
    with op.batch_alter_table("page") as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=True))

    _copy_running_chains()

    with op.batch_alter_table("page") as batch_op:
        batch_op.alter_column("step", existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint("uq_page_incident_step", type_="unique")
        batch_op.drop_constraint("fk_page_backup_user_id_user_profile", type_="foreignkey")
        batch_op.drop_column("backup_user_id")
    op.create_index("uq_page_chain_user", "page", ["incident_id", "round", "step", "user_id"], unique=True)
    op.create_index(
        "uq_page_added_responder",
        "page",
        ["incident_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("step IS NULL"),
        sqlite_where=sa.text("step IS NULL"),
    )


def _copy_running_chains() -> None:
    """Give every incident the single-hop chain it was running, standing where its pages stand."""
    bind = op.get_bind()
    incidents = sa.table(
        "incident",
        sa.column("id", GUID(length=16)),
        sa.column("status", sa.String()),
        sa.column("schedule_id", GUID(length=16)),
        sa.column("chain", sa.JSON()),
        sa.column("chain_step", sa.Integer()),
        sa.column("escalation_due_at", DateTimeUTC(timezone=True)),
    )
    pages = sa.table(
        "page",
        sa.column("id", GUID(length=16)),
        sa.column("incident_id", GUID(length=16)),
        sa.column("step", sa.Integer()),
        sa.column("round", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("deadline", DateTimeUTC(timezone=True)),
        sa.column("backup_user_id", GUID(length=16)),
    )
    schedules = sa.table(
        "oncall_schedule",
        sa.column("id", GUID(length=16)),
        sa.column("name", sa.String()),
        sa.column("escalation_delay_minutes", sa.Integer()),
        sa.column("escalation_to_id", GUID(length=16)),
    )
    users = sa.table("user_profile", sa.column("id", GUID(length=16)), sa.column("display_name", sa.String()))
    bind.execute(pages.update().values(round=0))
    names = dict(bind.execute(sa.select(users.c.id, users.c.display_name)).all())
    by_schedule = {row.id: row for row in bind.execute(sa.select(schedules)).all()}
    for incident in bind.execute(sa.select(incidents.c.id, incidents.c.status, incidents.c.schedule_id)).all():
        own = bind.execute(
            sa.select(pages.c.step, pages.c.status, pages.c.deadline, pages.c.backup_user_id)
            .where(pages.c.incident_id == incident.id)
            .order_by(pages.c.step)
        ).all()
        schedule = by_schedule.get(incident.schedule_id)
        delay = schedule.escalation_delay_minutes if schedule is not None else 15
        # The backup frozen on the primary's page is the one the incident was running; only an
        # incident that paged nobody falls back to the schedule's (it has nothing frozen).
        first = next((p for p in own if p.step == 0), None)
        fallback = schedule.escalation_to_id if schedule is not None else None
        backup = first.backup_user_id if first is not None else fallback
        steps: list[dict[str, Any]] = [
            {
                "delay_minutes": delay,
                "targets": [{"kind": "schedule", "id": str(schedule.id), "name": schedule.name}]
                if schedule is not None
                else [],
            }
        ]
        if backup is not None or any(p.step == 1 for p in own):
            steps.append(
                {
                    "delay_minutes": delay,
                    "targets": [{"kind": "user", "id": str(backup), "name": names.get(backup, "the backup")}]
                    if backup is not None
                    else [],
                }
            )
        at_step = max((p.step for p in own), default=len(steps) - 1)
        pending = [p for p in own if p.step == at_step and p.status == "pending" and p.deadline is not None]
        due = pending[0].deadline if pending and incident.status == "triggered" else None
        bind.execute(
            incidents.update()
            .where(incidents.c.id == incident.id)
            .values(chain={"policy": None, "repeat": 0, "steps": steps}, chain_step=at_step, escalation_due_at=due)
        )


def downgrade() -> None:
    op.drop_index("uq_page_added_responder", table_name="page")
    op.drop_index("uq_page_chain_user", table_name="page")
    op.execute("DELETE FROM page WHERE step IS NULL OR round > 0")
    with op.batch_alter_table("page") as batch_op:
        batch_op.add_column(sa.Column("backup_user_id", GUID(length=16), nullable=True))
        batch_op.create_foreign_key(
            "fk_page_backup_user_id_user_profile", "user_profile", ["backup_user_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.alter_column("step", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint("uq_page_incident_step", ["incident_id", "step"])
        batch_op.drop_column("round")
    with op.batch_alter_table("oncall_schedule") as batch_op:
        batch_op.drop_constraint(op.f("fk_oncall_schedule_escalation_policy_id_escalation_policy"), type_="foreignkey")
        batch_op.drop_index(op.f("ix_oncall_schedule_escalation_policy_id"))
        batch_op.drop_column("escalation_policy_id")
    with op.batch_alter_table("incident") as batch_op:
        batch_op.drop_constraint(op.f("fk_incident_escalation_policy_id_escalation_policy"), type_="foreignkey")
        batch_op.drop_index("ix_incident_status_escalation_due")
        for column in ("escalation_due_at", "chain_round", "chain_step", "chain", "escalation_policy_id"):
            batch_op.drop_column(column)
    op.drop_table("escalation_target")
    op.drop_table("escalation_step")
    op.drop_table("escalation_policy")
