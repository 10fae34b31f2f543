"""Voice calls: how each person is paged, and the voice source of a responder.

Why: an SMS at 3 a.m. often wakes nobody. A person now chooses a text, a call, or both (the call at
once or after some minutes without an acknowledgement); a key pressed on the call acknowledges, and
the responder row says it came by voice. Everyone keeps being paged by text, as before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 00:48:10.026738
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SOURCES = "source IN ('slack', 'sms', 'voice', 'web', 'pagerduty')"
OLD_SOURCES = "source IN ('slack', 'sms', 'web')"


def upgrade() -> None:
    with op.batch_alter_table("user_profile") as batch_op:
        batch_op.add_column(sa.Column("page_by_sms", sa.Boolean(), server_default=sa.text("true"), nullable=False))
        batch_op.add_column(sa.Column("page_by_voice", sa.Boolean(), server_default=sa.text("false"), nullable=False))
        batch_op.add_column(sa.Column("voice_after_minutes", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("incident_responder") as batch_op:
        batch_op.drop_constraint(op.f("ck_incident_responder_source"), type_="check")
        batch_op.create_check_constraint("source", sa.text(SOURCES))


def downgrade() -> None:
    op.execute("UPDATE incident_responder SET source = 'web' WHERE source NOT IN ('slack', 'sms', 'web')")
    with op.batch_alter_table("incident_responder") as batch_op:
        batch_op.drop_constraint(op.f("ck_incident_responder_source"), type_="check")
        batch_op.create_check_constraint("source", sa.text(OLD_SOURCES))
    with op.batch_alter_table("user_profile") as batch_op:
        batch_op.drop_column("voice_after_minutes")
        batch_op.drop_column("page_by_voice")
        batch_op.drop_column("page_by_sms")
