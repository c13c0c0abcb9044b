"""handoff: agent notes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:25:56.995850
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "agent_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_notes_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["handoff_id"], ["handoffs.id"], name=op.f("fk_agent_notes_handoff_id_handoffs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_notes")),
    )
    with op.batch_alter_table("agent_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_notes_handoff_id"), ["handoff_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("agent_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_notes_handoff_id"))

    op.drop_table("agent_notes")
