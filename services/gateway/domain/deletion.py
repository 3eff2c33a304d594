"""What a deletion call asks for, checked before it goes on the bus, and how its answer reads."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID

from fullcircle.errors import InvalidArgument, artist_name_argument, id_argument
from fullcircle.v1 import gateway_pb2

# Who owns rows of a listener besides the gateway: each answers an account deletion.
ACCOUNT_OWNERS = ("ingest", "features", "model")


def plays_selection(request: gateway_pb2.DeletePlaysRequest) -> dict[str, object]:
    """The PlaysDeletionRequested fields naming the plays to delete: exactly one selector."""
    which = request.WhichOneof("plays")
    if which == "import_id":
        return {"import_id": id_argument(request.import_id, "import_id")}
    if which == "played_between":
        played_from = _moment(request.played_between.from_time, "from_time")
        played_to = _moment(request.played_between.to_time, "to_time")
        if played_to <= played_from:
            raise InvalidArgument(
                f"the range is empty or inverted: to_time {played_to.isoformat()} is not after "
                f"from_time {played_from.isoformat()}"
            )
        return {"played_from": played_from, "played_to": played_to}
    if which == "artist":
        return {"artist": artist_name_argument(request.artist)}
    if which == "all" and request.all:
        return {"everything": True}
    raise InvalidArgument("name the plays: import_id, played_between, artist, or all=true")


def _moment(value: str, field_name: str) -> datetime:
    """An RFC 3339 time or a YYYY-MM-DD date (midnight); without an offset, UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidArgument(
            f"{field_name} is not a time like 2024-03-01 or 2024-03-01T08:00:00Z: {value[:64]!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def report(
    request_id: UUID, service: str, removed: Mapping[str, int], message: str = ""
) -> gateway_pb2.DeletionReport:
    return gateway_pb2.DeletionReport(
        request_id=str(request_id), service=service, removed=dict(removed), message=message
    )


def final_report(
    request_id: UUID, reports: list[gateway_pb2.DeletionReport], pending: set[str], done: str
) -> gateway_pb2.DeletionReport:
    """The last answer of a deletion: rows removed per kind over every service, what `done`
    says happened, and which services had not answered yet."""
    totals: dict[str, int] = {}
    for part in reports:
        for kind, rows in part.removed.items():
            totals[kind] = totals.get(kind, 0) + rows
    removed = ", ".join(f"{rows} {kind}" for kind, rows in sorted(totals.items())) or "nothing"
    message = f"removed {removed}; {done}"
    if pending:
        message += f"; not answered yet: {', '.join(sorted(pending))} (its rows go when it is back)"
    return gateway_pb2.DeletionReport(
        request_id=str(request_id),
        removed=totals,
        finished=True,
        message=message,
        pending=sorted(pending),
    )
