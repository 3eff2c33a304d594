"""The incremental decoder of history files: however the bytes are split into parts, it gives
the rows json.loads gives for the whole file, and refuses what json.loads refuses, at the same
line and column, calling a file cut short truncated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from services.ingest.domain import json_rows as decoder
from services.ingest.domain.json_rows import JsonFault, NotUtf8, OtherValue, RowBatch, json_rows

# Names that look like the places a row could be cut: braces, commas, escaped quotes, a
# backslash before the closing quote, brackets, non-ASCII (a cut inside a UTF-8 sequence).
TRICKY_NAMES = [
    'a}, {"b',
    'say \\"}\\", {',
    "ends in a backslash \\",
    "}]},[{",
    "Beyoncé } naïve, {",
    "🎧}",
    "",
]


def rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "ts": f"2024-01-01T00:{index // 60:02d}:{index % 60:02d}Z",
            "ms_played": 1000 + index,
            "spotify_track_uri": f"spotify:track:{index}",
            "master_metadata_track_name": TRICKY_NAMES[index % len(TRICKY_NAMES)],
        }
        for index in range(count)
    ]


def decoded(parts: list[bytes] | Iterator[bytes]) -> list[Any]:
    """Every row the decoder gives, as plain JSON values, or the one non-list value."""
    values: list[Any] = []
    for batch in json_rows(parts):
        if isinstance(batch, OtherValue):
            return [batch]
        values += [msgspec.to_builtins(row) for row in batch.rows] if batch.typed else batch.rows
    return values


def typed_rows(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`values` as the typed decoder gives them: every field of ExtendedRow, None if absent."""
    fields = msgspec.structs.fields(decoder.ExtendedRow)
    return [{field.name: value.get(field.name) for field in fields} for value in values]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of a few rows, so a short document is cut in many places."""
    monkeypatch.setattr(decoder, "BATCH_BYTES", 200)


@pytest.mark.parametrize("indent", [None, 2])
def test_rows_split_at_every_byte_decode_as_the_whole_file(
    small_batches: None, indent: int | None
) -> None:
    history = rows(12)
    document = json.dumps(history, indent=indent, ensure_ascii=False).encode()
    for at in range(1, len(document)):
        assert decoded([document[:at], document[at:]]) == typed_rows(history), at


def test_rows_arriving_a_byte_at_a_time_decode_as_the_whole_file(small_batches: None) -> None:
    history = rows(20)
    document = json.dumps(history, ensure_ascii=False).encode()
    assert decoded(document[at : at + 1] for at in range(len(document))) == typed_rows(history)


def test_batches_end_where_rows_end_even_when_a_name_looks_like_an_end(
    small_batches: None,
) -> None:
    history = [{**row, "master_metadata_track_name": '}, {"ts": 1}' * 40} for row in rows(9)]
    batches = list(json_rows([json.dumps(history).encode()]))
    assert len(batches) > 1
    assert all(isinstance(batch, RowBatch) and batch.typed for batch in batches)
    assert sum(len(batch.rows) for batch in batches if isinstance(batch, RowBatch)) == 9


def test_a_row_that_does_not_fit_the_typed_rows_sends_only_its_batch_down_the_checked_path(
    small_batches: None,
) -> None:
    history = rows(30)
    history[17] = {**history[17], "ms_played": "ten"}
    history.insert(5, [1, {"not": "a row"}])
    history.insert(9, None)
    batches = [batch for batch in json_rows([json.dumps(history).encode()])]
    assert isinstance(batches[0], RowBatch)
    kinds = {batch.typed for batch in batches if isinstance(batch, RowBatch)}
    assert kinds == {True, False}
    values = decoded([json.dumps(history).encode()])
    assert len(values) == len(history)
    assert [1, {"not": "a row"}] in values and None in values
    mistyped = next(row for row in history if isinstance(row, dict) and row["ms_played"] == "ten")
    assert mistyped in values  # as json.loads reads it


@pytest.mark.parametrize(
    "document",
    [
        b'\xef\xbb\xbf[{"ts": "2024-01-01T00:00:00Z", "ms_played": 1}]',
        b' \r\n\t[ \n {"ts": "2024-01-01T00:00:00Z", "ms_played": 1} \n , \n'
        b' {"ts": "2024-01-01T00:00:01Z", "ms_played": 2}\n ]\n\n',
    ],
)
def test_a_bom_and_blanks_anywhere_json_allows_them_are_read(document: bytes) -> None:
    expected = json.loads(document.decode("utf-8-sig"))
    for at in range(len(document)):
        assert decoded([document[:at], document[at:]]) == typed_rows(expected)


@pytest.mark.parametrize(
    ("document", "value"),
    [(b'{"ts": "x"}', {"ts": "x"}), (b"  null ", None), (b'"[]"', "[]"), (b"12", 12)],
)
def test_a_document_that_is_not_a_list_is_its_value(document: bytes, value: Any) -> None:
    [other] = decoded([document[:1], document[1:]])
    assert isinstance(other, OtherValue) and other.value == value


def test_an_empty_list_has_no_rows() -> None:
    assert decoded([b" [", b" ] "]) == []


def _whole_file_fault(document: bytes) -> tuple[bool, int, int, str] | None:
    try:
        json.loads(document.decode("utf-8"))
    except json.JSONDecodeError as fault:
        cut = fault.msg.startswith("Unterminated") or decoder._cut_short(fault.doc, fault.pos)
        return cut, fault.lineno, fault.colno, fault.msg
    return None


@pytest.mark.parametrize("indent", [None, 2])
def test_a_file_cut_anywhere_is_refused_as_truncated_where_the_whole_file_decoder_says(
    small_batches: None, indent: int | None
) -> None:
    document = json.dumps(rows(10), indent=indent).encode()  # ASCII: every cut is UTF-8
    for end in range(1, len(document) - 1):
        cut = document[:end]
        expected = _whole_file_fault(cut)
        assert expected is not None, end
        with pytest.raises(JsonFault) as refusal:
            decoded([cut[: end // 2], cut[end // 2 :]])
        fault = refusal.value
        assert (fault.truncated, fault.line, fault.column, fault.message) == expected, end


@pytest.mark.parametrize(
    "document",
    [
        b'[{"ts": 1,}]',
        b"[1,]",
        b"[,1]",
        b"[}",
        b'[{"a": 1} {"b": 2}]',
        b'[{"a": 1}] x',
        b'[{"a": 1}]]',
        b'[\n{"a": 1},\n{"a": tru},\n{"a": 3}]',
        b'[{"a": 1}, {"a": "\\x"}]',
    ],
)
def test_invalid_json_is_refused_where_the_whole_file_decoder_refuses_it(document: bytes) -> None:
    expected = _whole_file_fault(document)
    assert expected is not None
    for at in range(1, len(document)):
        with pytest.raises(JsonFault) as refusal:
            decoded([document[:at], document[at:]])
        fault = refusal.value
        assert (fault.line, fault.column) == expected[1:3], (at, fault.message)
        assert not fault.truncated


def test_bytes_that_are_not_utf8_are_refused() -> None:
    document = json.dumps(rows(7), ensure_ascii=False).encode()
    document = document.replace("Beyoncé".encode(), b"Beyonc\xe9")  # Latin-1
    with pytest.raises(NotUtf8):
        decoded([document])


def test_a_row_without_an_end_stops_at_the_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoder, "MAX_ROW_BYTES", 4096)
    monkeypatch.setattr(decoder, "BATCH_BYTES", 256)
    pulled: list[int] = []

    def endless_row() -> Iterator[bytes]:
        yield b'[{"ts": "'
        while True:
            pulled.append(512)
            yield b"9" * 512

    with pytest.raises(JsonFault, match="a single row runs past"):
        decoded(endless_row())
    assert sum(pulled) <= 4096 + 2 * 512
