"""nlp results: message sentiments, conversation insights

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:38:24.752051
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "conversation_insights",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("summary_backend", sa.String(length=100), nullable=False),
        sa.Column("trend", sa.String(length=20), nullable=False),
        sa.Column("recent_scores", sa.JSON(), nullable=False),
        sa.Column("sentiment_score", sa.Float(), nullable=True),
        sa.Column("category", sa.String(length=200), nullable=True),
        sa.Column("category_confidence", sa.Float(), nullable=True),
        sa.Column(
            "priority",
            sa.Enum(
                "low",
                "normal",
                "high",
                "urgent",
                name="priority",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("priority_reason", sa.String(length=300), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_insights_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_insights")),
    )
    op.create_table(
        "message_sentiments",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("backend", sa.String(length=50), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_message_sentiments_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_sentiments_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_sentiments")),
    )
    with op.batch_alter_table("message_sentiments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_sentiments_conversation", ["conversation_id", "message_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("message_sentiments", schema=None) as batch_op:
        batch_op.drop_index("ix_message_sentiments_conversation")

    op.drop_table("message_sentiments")
    op.drop_table("conversation_insights")
