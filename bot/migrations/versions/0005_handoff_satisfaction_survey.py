"""handoff: satisfaction survey

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 02:29:03.174866
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "csat_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("statement", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_csat_responses_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_csat_responses_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["handoff_id"], ["handoffs.id"], name=op.f("fk_csat_responses_handoff_id_handoffs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_responses")),
        sa.UniqueConstraint(
            "handoff_id", "statement", name=op.f("uq_csat_responses_handoff_id_statement")
        ),
    )
    with op.batch_alter_table("csat_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_csat_responses_agent_id"), ["agent_id"], unique=False)

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("survey_handoff_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_conversations_survey_handoff_id", "handoffs", ["survey_handoff_id"], ["id"]
        )

    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("survey_step", sa.Integer(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_column("survey_step")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_constraint("fk_conversations_survey_handoff_id", type_="foreignkey")
        batch_op.drop_column("survey_handoff_id")

    with op.batch_alter_table("csat_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_csat_responses_agent_id"))

    op.drop_table("csat_responses")
