"""add identification confidence, so a stored suggestion can be shown as the window shows it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 22:40:00
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confidence", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identification", schema=None) as batch_op:
        batch_op.drop_column("confidence")
