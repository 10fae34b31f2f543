"""A per-workspace board version, bumped by the database itself in the transaction of every change
that can alter the on-call board.

Why: who's up and the "Currently on call" highlight are read far more often than they change. Web
processes keep what they built under (workspace, board_version) and serve it until the version
moves or the next hand-off passes. The bump lives in triggers so no write path can forget it: a
slot written, moved or deleted; a schedule created, edited or deleted; a membership; a person's
name or email. On PostgreSQL the trigger is a deferred constraint trigger, so the workspace row is
locked only at commit (after every other lock the transaction takes: no new deadlock), once per
transaction (`board_tx` remembers which one bumped last). SQLite has one writer at a time, so a
plain row trigger does.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# (table, the SQL naming the workspace of the changed row as `{row}`) for each table the board reads.
_SOURCES = {
    "oncall_slot": "(SELECT workspace_id FROM oncall_schedule WHERE id = {row}.schedule_id)",
    "oncall_schedule": "{row}.workspace_id",
    "membership": "{row}.workspace_id",
}

_PG_BUMP = """
CREATE FUNCTION vigilo_board_bump(target uuid) RETURNS void LANGUAGE sql AS $$
    UPDATE workspace SET board_version = board_version + 1, board_tx = txid_current()
    WHERE id = target AND board_tx IS DISTINCT FROM txid_current();
$$;
"""


def _pg_trigger(table: str, workspace: str) -> list[str]:
    new, old = workspace.format(row="NEW"), workspace.format(row="OLD")
    return [
        f"""
CREATE FUNCTION vigilo_board_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN PERFORM vigilo_board_bump({new}); END IF;
    IF TG_OP <> 'INSERT' THEN PERFORM vigilo_board_bump({old}); END IF;
    RETURN NULL;
END $$;
""",
        f"""
CREATE CONSTRAINT TRIGGER vigilo_board_{table} AFTER INSERT OR UPDATE OR DELETE ON {table}
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION vigilo_board_{table}();
""",
    ]


_PG_PEOPLE = [
    """
CREATE FUNCTION vigilo_board_user_profile() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vigilo_board_bump(workspace_id) FROM membership WHERE user_id = NEW.id;
    RETURN NULL;
END $$;
""",
    """
CREATE CONSTRAINT TRIGGER vigilo_board_user_profile AFTER UPDATE ON user_profile
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.email IS DISTINCT FROM NEW.email)
EXECUTE FUNCTION vigilo_board_user_profile();
""",
]


def _sqlite_triggers(table: str, workspace: str) -> list[str]:
    bump = "UPDATE workspace SET board_version = board_version + 1 WHERE id = {};"
    return [
        f"CREATE TRIGGER vigilo_board_{table}_insert AFTER INSERT ON {table} "
        f"BEGIN {bump.format(workspace.format(row='NEW'))} END;",
        f"CREATE TRIGGER vigilo_board_{table}_update AFTER UPDATE ON {table} "
        f"BEGIN {bump.format(workspace.format(row='NEW'))} {bump.format(workspace.format(row='OLD'))} END;",
        f"CREATE TRIGGER vigilo_board_{table}_delete AFTER DELETE ON {table} "
        f"BEGIN {bump.format(workspace.format(row='OLD'))} END;",
    ]


_SQLITE_PEOPLE = [
    "CREATE TRIGGER vigilo_board_user_profile_update AFTER UPDATE OF display_name, email ON user_profile "
    "WHEN OLD.display_name IS NOT NEW.display_name OR OLD.email IS NOT NEW.email "
    "BEGIN UPDATE workspace SET board_version = board_version + 1 "
    "WHERE id IN (SELECT workspace_id FROM membership WHERE user_id = NEW.id); END;"
]


def upgrade() -> None:
    with op.batch_alter_table("workspace") as batch_op:
        batch_op.add_column(sa.Column("board_version", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("board_tx", sa.BigInteger(), nullable=True))
    if op.get_context().dialect.name == "postgresql":
        statements = [_PG_BUMP]
        for table, workspace in _SOURCES.items():
            statements += _pg_trigger(table, workspace)
        statements += _PG_PEOPLE
    else:
        statements = []
        for table, workspace in _SOURCES.items():
            statements += _sqlite_triggers(table, workspace)
        statements += _SQLITE_PEOPLE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in [*_SOURCES, "user_profile"]:
            op.execute(f"DROP TRIGGER IF EXISTS vigilo_board_{table} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS vigilo_board_{table}()")
        op.execute("DROP FUNCTION IF EXISTS vigilo_board_bump(uuid)")
    else:
        for table in _SOURCES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS vigilo_board_{table}_{event}")
        op.execute("DROP TRIGGER IF EXISTS vigilo_board_user_profile_update")
    with op.batch_alter_table("workspace") as batch_op:
        batch_op.drop_column("board_tx")
        batch_op.drop_column("board_version")
