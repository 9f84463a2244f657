"""create whale, photo and identification tables

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-04 22:13:14.738111
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('stored_name', sa.String(length=300), nullable=False),
    sa.Column('original_name', sa.String(length=500), nullable=False),
    sa.Column('original_folder', sa.Text(), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(), nullable=True),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.Column('camera', sa.String(length=200), nullable=True),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('crop_left', sa.Integer(), nullable=True),
    sa.Column('crop_top', sa.Integer(), nullable=True),
    sa.Column('crop_right', sa.Integer(), nullable=True),
    sa.Column('crop_bottom', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    op.create_table('whale',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('identification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('whale_id', sa.String(length=128), nullable=True),
    sa.Column('is_new_whale', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=True),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('method', sa.String(length=64), nullable=False),
    sa.Column('model_version', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('suggested', 'confirmed')", name='ck_identification_status'),
    sa.CheckConstraint('(whale_id IS NULL) = (is_new_whale = 1)', name='ck_identification_whale_or_new'),
    sa.ForeignKeyConstraint(['photo_id'], ['photo.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['whale_id'], ['whale.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('identification', schema=None) as batch_op:
        batch_op.create_index('ix_identification_photo_status', ['photo_id', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('identification', schema=None) as batch_op:
        batch_op.drop_index('ix_identification_photo_status')

    op.drop_table('identification')
    op.drop_table('whale')
    op.drop_table('photo')
