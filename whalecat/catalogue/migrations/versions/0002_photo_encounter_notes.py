"""add photo encounter and notes; index identifications by whale

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 22:40:00
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.add_column(sa.Column("encounter", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=True))
    with op.batch_alter_table("identification", schema=None) as batch_op:
        batch_op.create_index("ix_identification_whale", ["whale_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("identification", schema=None) as batch_op:
        batch_op.drop_index("ix_identification_whale")
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.drop_column("notes")
        batch_op.drop_column("encounter")
