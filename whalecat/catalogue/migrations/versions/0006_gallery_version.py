"""add gallery_version, raised by triggers whenever the photos matched against change, and store it with suggestions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 01:20:00

A migration that copies the photo, identification or whale table (Alembic's batch mode does,
for most column changes) drops these triggers with the old table, and must make them again.
`tests/test_gallery_version.py` checks that the newest schema has every one.
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

RAISE = "BEGIN UPDATE gallery_version SET version = version + 1; END"
# Only these photo columns decide what a gallery photo is; notes or an encounter do not.
PHOTO_COLUMNS = "sha256, stored_name, crop_left, crop_top, crop_right, crop_bottom, rotation"
# Photos confirmed as new_whale are not matched against, so marking one changes nothing.
OLD_IN_GALLERY = "OLD.status = 'confirmed' AND OLD.whale_id IS NOT NULL"
NEW_IN_GALLERY = "NEW.status = 'confirmed' AND NEW.whale_id IS NOT NULL"
TRIGGERS = {
    "gallery_confirmation_added": f"AFTER INSERT ON identification WHEN {NEW_IN_GALLERY}",
    "gallery_confirmation_deleted": f"AFTER DELETE ON identification WHEN {OLD_IN_GALLERY}",
    "gallery_confirmation_changed": f"AFTER UPDATE ON identification WHEN ({OLD_IN_GALLERY}) OR ({NEW_IN_GALLERY})",
    "gallery_photo_changed": f"AFTER UPDATE OF {PHOTO_COLUMNS} ON photo",
    "gallery_photo_deleted": "AFTER DELETE ON photo",
    "gallery_whale_changed": "AFTER UPDATE OF id ON whale",
    "gallery_whale_deleted": "AFTER DELETE ON whale",
}


def upgrade() -> None:
    # A plain ALTER TABLE, not a batch copy, so the triggers below stay on the table.
    op.add_column("identification", sa.Column("gallery_version", sa.Integer(), nullable=True))
    op.create_table(
        "gallery_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_gallery_version_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO gallery_version (id, version) VALUES (1, 0)")
    for name, when in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} {RAISE}")


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.drop_table("gallery_version")
    with op.batch_alter_table("identification", schema=None) as batch_op:
        batch_op.drop_column("gallery_version")
