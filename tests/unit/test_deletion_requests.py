"""What a DeletePlays request names, checked before it goes on the bus, and how the final
report of a deletion adds up what each service removed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fullcircle.errors import InvalidArgument
from fullcircle.v1 import gateway_pb2
from services.gateway.domain.deletion import final_report, plays_selection, report

Between = gateway_pb2.PlayedBetween


def test_each_selector_names_its_plays() -> None:
    import_id = uuid.uuid4()
    assert plays_selection(gateway_pb2.DeletePlaysRequest(import_id=str(import_id))) == {
        "import_id": import_id
    }
    assert plays_selection(gateway_pb2.DeletePlaysRequest(artist="  Lana Del Rey ")) == {
        "artist": "Lana Del Rey"
    }
    assert plays_selection(gateway_pb2.DeletePlaysRequest(all=True)) == {"everything": True}


def test_a_range_is_half_open_and_a_date_without_an_offset_is_utc() -> None:
    selection = plays_selection(
        gateway_pb2.DeletePlaysRequest(
            played_between=Between(from_time="2024-03-01", to_time="2024-03-01T09:30:00+02:00")
        )
    )
    assert selection == {
        "played_from": datetime(2024, 3, 1, tzinfo=UTC),
        "played_to": datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2))),
    }


@pytest.mark.parametrize(
    ("request_fields", "says"),
    [
        ({}, "name the plays"),
        ({"all": False}, "name the plays"),
        ({"import_id": "yesterday's"}, "import_id is not a valid id"),
        ({"artist": " "}, "name the artist"),
        ({"played_between": Between(from_time="2024-03-01", to_time="2024-03-01")}, "empty"),
        ({"played_between": Between(from_time="2024-03-02", to_time="2024-03-01")}, "inverted"),
        ({"played_between": Between(from_time="2024-03-01")}, "to_time is not a time"),
        ({"played_between": Between(from_time="March", to_time="2024-03-01")}, "from_time"),
    ],
)
def test_a_request_that_names_no_plays_is_refused_saying_why(
    request_fields: dict[str, object], says: str
) -> None:
    with pytest.raises(InvalidArgument, match=says):
        plays_selection(gateway_pb2.DeletePlaysRequest(**request_fields))  # type: ignore[arg-type]


def test_the_final_report_adds_up_every_service_and_names_the_silent_ones() -> None:
    request_id = uuid.uuid4()
    parts = [
        report(request_id, "gateway", {"users": 1, "uploads": 2}),
        report(request_id, "ingest", {"plays": 3086, "imports": 2}),
    ]
    final = final_report(request_id, parts, {"model", "features"}, "the account is deleted")
    assert final.finished and final.request_id == str(request_id) and final.service == ""
    assert dict(final.removed) == {"users": 1, "uploads": 2, "plays": 3086, "imports": 2}
    assert list(final.pending) == ["features", "model"]
    assert final.message.startswith("removed 2 imports, 3086 plays, 2 uploads, 1 users;")
    assert "not answered yet: features, model" in final.message
    assert final_report(request_id, [], set(), "done").message == "removed nothing; done"
