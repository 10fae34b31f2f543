"""What the provider said became of a message.

Why: a Twilio 201 only means Twilio accepted the SMS; its signed status callback later says whether it
was delivered. The incident page shows that truth per channel, so the provider's message id and its
last status are kept on the delivery row (looked up by the id when the callback comes).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 21:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_log") as batch_op:
        batch_op.add_column(sa.Column("provider_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("provider_status", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_delivery_log_provider_id", ["provider_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery_log") as batch_op:
        batch_op.drop_index("ix_delivery_log_provider_id")
        batch_op.drop_column("provider_status")
        batch_op.drop_column("provider_id")
