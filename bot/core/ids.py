"""Ids of rows as routes take them: a positive integer in the range the id columns store.

Our ids are INTEGER columns: 64-bit on SQLite but 32-bit on PostgreSQL, where a larger number
makes the driver fail (a 500) instead of finding no row. So routes say `handoff_id: DbId` and
get a 422 in the one error shape for anything out of range (0, negative, 2^31 and up, 2^63
and up). The bounds are plain `annotated_types` constraints, so the same type works for a path
or query parameter and for a field of a request body, and shows in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le

MAX_DB_ID = 2**31 - 1
"""The largest id a row can have (PostgreSQL's INTEGER; SQLite's is wider)."""

DbId = Annotated[int, Ge(1), Le(MAX_DB_ID)]
"""The id of a stored row, from 1 to MAX_DB_ID."""
