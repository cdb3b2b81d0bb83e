"""Secret fingerprints, so that a host with other secrets than the database's refuses to start.

Each row is an HMAC of a fixed label under SECRET_KEY or KEY_HASH_SECRET, never the secret (see shared_secrets).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("secret_fingerprints",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recorded_by", sa.String(length=300), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name")
    )


def downgrade() -> None:
    op.drop_table("secret_fingerprints")
