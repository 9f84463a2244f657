"""never reuse a photo id, so a removed photo can be put back under its own

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 14:45:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite gives a new row the largest id plus one, unless the table is AUTOINCREMENT, and
    # only a new table can become so. `Catalogue.upgrade` turns foreign keys off around this,
    # because dropping the old table would otherwise delete every identification with it.
    with op.batch_alter_table("photo", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass


def downgrade() -> None:
    with op.batch_alter_table("photo", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
        pass
