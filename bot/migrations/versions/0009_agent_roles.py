"""agents: role (agent or supervisor), which sets what they may approve from the console

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLE = sa.Enum(
    "agent",
    "supervisor",
    name="agentrole",
    native_enum=False,
    create_constraint=True,
    length=20,
)


def upgrade() -> None:

    # Existing agents become plain agents: a supervisor is named explicitly.
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", _ROLE, server_default="agent", nullable=False))


def downgrade() -> None:

    # The role's CHECK constraint goes first: SQLite's table copy would keep it otherwise.
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_agents_agentrole"), type_="check")
        batch_op.drop_column("role")
