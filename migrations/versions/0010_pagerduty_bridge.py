"""The PagerDuty bridge: connections, a policy step that pages a PagerDuty service, and its pages.

Why: teams whose escalation lives in PagerDuty page through it while Vigilo stays the "who's up?"
view. A connection holds the routing key and webhook secret (sealed) and the hash of its inbound
URL's token; a step target may now be a PagerDuty service; a page may name the service instead of a
person. A responder's source "pagerduty" is 9 characters: the column widens to 16.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 04:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ONE_KIND = (
    "(CASE WHEN schedule_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN pagerduty_service_id IS NULL THEN 0 ELSE 1 END) = 1"
)
OLD_ONE_KIND = "(schedule_id IS NULL) <> (user_id IS NULL)"


def upgrade() -> None:
    op.create_table(
        "pagerduty_service",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("workspace_id", GUID(length=16), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("routing_key_sealed", sa.Text(), nullable=False),
        sa.Column("routing_key_hint", sa.String(length=16), nullable=False),
        sa.Column("signing_secret_sealed", sa.Text(), nullable=False),
        sa.Column("api_key_sealed", sa.Text(), nullable=True),
        sa.Column("webhook_token_hash", sa.String(length=64), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_pagerduty_service_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pagerduty_service")),
        sa.UniqueConstraint("webhook_token_hash", name=op.f("uq_pagerduty_service_webhook_token_hash")),
        sa.UniqueConstraint("workspace_id", "label", name="uq_pagerduty_service_workspace_label"),
    )
    with op.batch_alter_table("pagerduty_service") as batch_op:
        batch_op.create_index(batch_op.f("ix_pagerduty_service_workspace_id"), ["workspace_id"], unique=False)

    with op.batch_alter_table("escalation_target") as batch_op:
        batch_op.add_column(sa.Column("pagerduty_service_id", GUID(length=16), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_escalation_target_pagerduty_service_id"), ["pagerduty_service_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_escalation_target_pagerduty_service_id_pagerduty_service"),
            "pagerduty_service",
            ["pagerduty_service_id"],
            ["id"],
        )
        batch_op.drop_constraint(op.f("ck_escalation_target_one_kind"), type_="check")
        batch_op.create_check_constraint("one_kind", sa.text(ONE_KIND))

    with op.batch_alter_table("page") as batch_op:
        batch_op.add_column(sa.Column("pagerduty_service_id", GUID(length=16), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_page_pagerduty_service_id_pagerduty_service"),
            "pagerduty_service",
            ["pagerduty_service_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "uq_page_chain_pagerduty",
            ["incident_id", "round", "step", "pagerduty_service_id"],
            unique=True,
            postgresql_where=sa.text("pagerduty_service_id IS NOT NULL"),
            sqlite_where=sa.text("pagerduty_service_id IS NOT NULL"),
        )

    with op.batch_alter_table("incident_responder") as batch_op:
        batch_op.alter_column("source", existing_type=sa.String(length=8), type_=sa.String(length=16))


def downgrade() -> None:
    op.execute("UPDATE incident_responder SET source = 'web' WHERE source = 'pagerduty'")
    with op.batch_alter_table("incident_responder") as batch_op:
        batch_op.alter_column("source", existing_type=sa.String(length=16), type_=sa.String(length=8))
    # Pages of a PagerDuty service have no person (their delivery rows keep their history without
    # them); steps that targeted only a service are dropped with their target. Incidents still running
    # a chain with a PagerDuty step should be resolved before downgrading: the older code cannot read it.
    op.execute(
        "UPDATE delivery_log SET page_id = NULL WHERE page_id IN (SELECT id FROM page WHERE pagerduty_service_id IS NOT NULL)"
    )
    op.execute("DELETE FROM page WHERE pagerduty_service_id IS NOT NULL")
    op.execute("DELETE FROM escalation_target WHERE pagerduty_service_id IS NOT NULL")
    op.execute("DELETE FROM escalation_step WHERE id NOT IN (SELECT step_id FROM escalation_target)")
    with op.batch_alter_table("page") as batch_op:
        batch_op.drop_index("uq_page_chain_pagerduty")
        batch_op.drop_constraint(op.f("fk_page_pagerduty_service_id_pagerduty_service"), type_="foreignkey")
        batch_op.drop_column("pagerduty_service_id")
    with op.batch_alter_table("escalation_target") as batch_op:
        batch_op.drop_constraint(op.f("ck_escalation_target_one_kind"), type_="check")
        batch_op.create_check_constraint("one_kind", sa.text(OLD_ONE_KIND))
        batch_op.drop_constraint(
            op.f("fk_escalation_target_pagerduty_service_id_pagerduty_service"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_escalation_target_pagerduty_service_id"))
        batch_op.drop_column("pagerduty_service_id")
    with op.batch_alter_table("pagerduty_service") as batch_op:
        batch_op.drop_index(batch_op.f("ix_pagerduty_service_workspace_id"))
    op.drop_table("pagerduty_service")
