"""Verified contact points and SMS reply codes.

Why: anyone could type any phone number or Slack id into their profile and so receive another
person's pages or act as them on an inbound SMS or reaction. A contact point now pages and
identifies only once verified, and a verified one belongs to one person (partial unique indexes).
Pages get the reply code people answer an SMS with ("4A").

Upgrading keeps paging working: every existing phone and Slack id becomes verified, except values
two or more people share; those all become unverified, and the people are told on their next page
view (contact_notice) to verify again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 21:00:00.000000
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NOTICE = {
    "phone": "Your phone number {value} was also on another account, so it no longer receives pages. "
    "Verify it on your profile to page you again.",
    "slack_user_id": "Your Slack id {value} was also on another account, so it no longer pages or identifies you. "
    "Verify it on your profile.",
}


def upgrade() -> None:
    with op.batch_alter_table("user_profile") as batch_op:
        batch_op.add_column(sa.Column("phone_verified_at", DateTimeUTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("slack_verified_at", DateTimeUTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("contact_notice", sa.Text(), nullable=True))
    with op.batch_alter_table("page") as batch_op:
        batch_op.add_column(sa.Column("reply_code", sa.Integer(), nullable=True))
    op.create_table(
        "contact_verification",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("closed_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('phone', 'slack')", name=op.f("ck_contact_verification_kind")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_profile.id"],
            name=op.f("fk_contact_verification_user_id_user_profile"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_verification")),
    )
    op.create_index("ix_contact_verification_value_at", "contact_verification", ["kind", "value", "created_at"])
    op.create_index("ix_contact_verification_user_at", "contact_verification", ["user_id", "kind", "created_at"])

    _mark_existing_verified()

    for name, column, flag in (
        ("uq_user_profile_verified_phone", "phone", "phone_verified_at"),
        ("uq_user_profile_verified_slack", "slack_user_id", "slack_verified_at"),
    ):
        op.create_index(
            name,
            "user_profile",
            [column],
            unique=True,
            postgresql_where=sa.text(f"{flag} IS NOT NULL"),
            sqlite_where=sa.text(f"{flag} IS NOT NULL"),
        )
    op.create_index(
        "uq_page_pending_reply_code",
        "page",
        ["user_id", "reply_code"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )


def _mark_existing_verified() -> None:
    bind = op.get_bind()
    now = datetime.datetime.now(datetime.UTC)
    users = sa.table(
        "user_profile",
        sa.column("id", GUID(length=16)),
        sa.column("phone", sa.String()),
        sa.column("slack_user_id", sa.String()),
        sa.column("phone_verified_at", DateTimeUTC(timezone=True)),
        sa.column("slack_verified_at", DateTimeUTC(timezone=True)),
        sa.column("contact_notice", sa.Text()),
    )
    for column, flag in (("phone", "phone_verified_at"), ("slack_user_id", "slack_verified_at")):
        value = users.c[column]
        shared = [
            row[0]
            for row in bind.execute(
                sa.select(value).where(value.is_not(None)).group_by(value).having(sa.func.count() > 1)
            )
        ]
        bind.execute(
            users.update().where(value.is_not(None), value.not_in(shared) if shared else sa.true()).values({flag: now})
        )
        for shared_value in shared:
            people = bind.execute(sa.select(users.c.id, users.c.contact_notice).where(value == shared_value)).all()
            for user_id, notice in people:
                text = _NOTICE[column].format(value=shared_value)
                bind.execute(
                    users.update()
                    .where(users.c.id == user_id)
                    .values(contact_notice=f"{notice} {text}" if notice else text)
                )


def downgrade() -> None:
    op.drop_index("uq_page_pending_reply_code", table_name="page")
    op.drop_index("uq_user_profile_verified_slack", table_name="user_profile")
    op.drop_index("uq_user_profile_verified_phone", table_name="user_profile")
    op.drop_index("ix_contact_verification_user_at", table_name="contact_verification")
    op.drop_index("ix_contact_verification_value_at", table_name="contact_verification")
    op.drop_table("contact_verification")
    with op.batch_alter_table("page") as batch_op:
        batch_op.drop_column("reply_code")
    with op.batch_alter_table("user_profile") as batch_op:
        batch_op.drop_column("contact_notice")
        batch_op.drop_column("slack_verified_at")
        batch_op.drop_column("phone_verified_at")
