"""verification: customers' business-system ref, conversations' verification, one-time codes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEVEL = sa.Enum(
    "code",
    "app_token",
    name="verificationlevel",
    native_enum=False,
    create_constraint=True,
    length=20,
)


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_ref", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_customers_external_ref", ["external_ref"])

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("verified_customer_ref", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("verification_level", _LEVEL, nullable=True))
        batch_op.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("verified_via", sa.String(length=20), nullable=True))

    op.create_table(
        "verification_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("customer_ref", sa.String(length=64), nullable=False),
        sa.Column("sent_via", sa.String(length=20), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_verification_challenges_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_challenges")),
    )
    with op.batch_alter_table("verification_challenges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_verification_challenges_conversation", ["conversation_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_verification_challenges_customer_ref"), ["customer_ref"], unique=False
        )


def downgrade() -> None:
    op.drop_table("verification_challenges")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("verified_via")
        batch_op.drop_column("verified_at")
        batch_op.drop_constraint(op.f("ck_conversations_verificationlevel"), type_="check")
        batch_op.drop_column("verification_level")
        batch_op.drop_column("verified_customer_ref")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_customers_external_ref", type_="unique")
        batch_op.drop_column("external_ref")
