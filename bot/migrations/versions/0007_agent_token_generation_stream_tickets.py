"""agents: token generation (sign-out revokes); stream tickets for the console's live feed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False)
        )

    op.create_table(
        "agent_stream_tickets",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_stream_tickets_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_agent_stream_tickets")),
    )
    with op.batch_alter_table("agent_stream_tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_stream_tickets_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("agent_stream_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_stream_tickets_expires_at"))

    op.drop_table("agent_stream_tickets")

    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("token_generation")
