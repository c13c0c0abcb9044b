"""Row ids as routes take them: the range every database's id columns store."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from bot.core.ids import MAX_DB_ID, DbId

IDS = TypeAdapter(DbId)


def test_ids_in_range_pass() -> None:
    assert IDS.validate_python(1) == 1
    assert IDS.validate_python("42") == 42
    assert IDS.validate_python(MAX_DB_ID) == 2**31 - 1  # PostgreSQL's INTEGER


@pytest.mark.parametrize("bad", [0, -1, 2**31, 2**63, 2**64, 10**40, "1e3", "x"])
def test_ids_out_of_range_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        IDS.validate_python(bad)


def test_the_range_is_in_the_schema() -> None:
    assert IDS.json_schema() == {"type": "integer", "minimum": 1, "maximum": MAX_DB_ID}
