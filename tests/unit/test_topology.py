"""The committed AsyncAPI document describes a straight pipeline: every stream has one producing
service and no chain of handlers leads from a stream back to itself; and the check that says so
does fail on a document with two producers or a cycle."""

from __future__ import annotations

import copy
import json
from typing import Any

from fullcircle.asyncapi import DOCUMENT, topology_problems
from fullcircle.events import (
    ARTISTS_ENRICHED,
    PROFILES_UPDATED,
    RECOMMENDATIONS_UPDATED,
    TOPOLOGY,
    TRACKS_ENRICHED,
)


def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return document


def test_the_committed_document_has_one_producer_per_stream_and_no_cycle() -> None:
    assert topology_problems(committed()) == []


def test_a_second_producer_of_a_stream_is_found() -> None:
    document = committed()
    send = document["operations"][f"model:{RECOMMENDATIONS_UPDATED}"]
    document["operations"][f"enrich:{RECOMMENDATIONS_UPDATED}:again"] = {
        **copy.deepcopy(send),
        "x-producer": "enrich",
    }
    assert topology_problems(document) == [
        f"{RECOMMENDATIONS_UPDATED} has 2 producing services: enrich, model"
    ]


def test_a_cycle_between_handlers_is_found() -> None:
    document = committed()
    # the old ping-pong: candidate tags announced as the listener's own artists
    document["operations"][f"enrich:{PROFILES_UPDATED}"]["x-publishes"] = [ARTISTS_ENRICHED]
    problems = topology_problems(document)
    assert f"cycle: {ARTISTS_ENRICHED} -> {PROFILES_UPDATED} -> {ARTISTS_ENRICHED}" in problems


def test_reads_without_a_group_are_sinks() -> None:
    document = committed()
    fanout = document["operations"][f"gateway (no group: every replica reads):{TRACKS_ENRICHED}"]
    assert fanout["x-ungrouped"] is True and fanout["x-publishes"] == []
    assert set(TOPOLOGY.ungrouped) >= {RECOMMENDATIONS_UPDATED, TRACKS_ENRICHED}


def test_every_handler_publishes_streams_of_the_topology_only() -> None:
    for (service, stream), published in TOPOLOGY.handlers.items():
        assert stream in TOPOLOGY.producers, (service, stream)
        assert all(TOPOLOGY.producers[out] == service for out in published), (service, stream)
