"""The taste page's charts: Vega-Lite specs built with Altair and rendered to SVG on the server
(vl-convert), so pages need no script and work offline, and tests read the SVG. Each mark's
aria-label names what it shows; text in it is escaped by the renderer.

Building a spec (Altair validates every row) and rendering it take a quarter of a second or
more per chart, so SVGs are kept by the hash of the chart's kind and rows (a new taste profile
is new rows) in a small in-process cache."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable

import altair as alt
import vl_convert

from services.web.domain import views

CACHE_SIZE = 256
_svgs: OrderedDict[str, str] = OrderedDict()

WIDTH = 640


def _cached(
    kind: str, rows: list[dict[str, object]], build: Callable[[], alt.TopLevelMixin]
) -> str:
    key = hashlib.sha256(json.dumps([kind, rows], sort_keys=True).encode()).hexdigest()
    if key in _svgs:
        _svgs.move_to_end(key)
        return _svgs[key]
    svg: str = _responsive(vl_convert.vegalite_to_svg(build().to_dict()))
    _svgs[key] = svg
    if len(_svgs) > CACHE_SIZE:
        _svgs.popitem(last=False)
    return svg


def _responsive(svg: str) -> str:
    """Let the SVG shrink to a phone's width (keeps its aspect ratio by its viewBox)."""
    return svg.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)


def evolution_svg(rows: list[dict[str, object]]) -> str:
    """The stream graph: listens per month, one band per taste, centred."""
    return _cached("evolution", rows, lambda: _evolution(rows))


def _evolution(rows: list[dict[str, object]]) -> alt.Chart:
    return (
        alt.Chart(alt.Data(values=rows))
        .mark_area(interpolate="monotone")
        .encode(
            x=alt.X("month:T", title=None, axis=alt.Axis(format="%Y", tickCount="year")),
            y=alt.Y("listens:Q", stack="center", axis=None),
            color=alt.Color(
                "taste:N",
                scale=alt.Scale(scheme="tableau20"),
                legend=alt.Legend(orient="bottom", columns=3),
            ),
            order=alt.Order("taste:N"),
        )
        .properties(width=WIDTH, height=260)
    )


def clock_svg(rows: list[dict[str, object]]) -> str:
    """The listening clock: a cell per hour of each weekday, coloured by the taste most played
    then and shaded by how much was played (an empty hour is blank)."""
    return _cached("clock", rows, lambda: _clock(rows))


def _clock(rows: list[dict[str, object]]) -> alt.Chart:
    return (
        alt.Chart(alt.Data(values=rows))
        .mark_rect()
        .encode(
            x=alt.X(
                "hour:O",
                title="hour",
                scale=alt.Scale(domain=list(range(24))),
                axis=alt.Axis(labelAngle=0, values=list(range(0, 24, 3))),
            ),
            y=alt.Y("day:O", title=None, scale=alt.Scale(domain=list(views.WEEKDAYS))),
            color=alt.Color(
                "taste:N",
                title="most played",
                scale=alt.Scale(scheme="tableau20"),
                legend=alt.Legend(orient="bottom", columns=3),
            ),
            opacity=alt.Opacity("listens:Q", legend=None, scale=alt.Scale(range=[0.15, 1])),
            tooltip=[
                alt.Tooltip("day:O"),
                alt.Tooltip("hour:O"),
                alt.Tooltip("listens:Q"),
                alt.Tooltip("taste:N", title="most played"),
                alt.Tooltip("share:Q", title="its share %"),
            ],
        )
        .transform_filter("datum.listens > 0")
        .properties(width=WIDTH, height=220)
    )


def warm_up() -> None:
    """Start the renderer (its first chart takes seconds) before the first page needs it."""
    evolution_svg([{"month": "2000-01", "taste": "warm-up", "listens": 1.0}])
    clock_svg([{"day": "Mon", "hour": 0, "listens": 1, "taste": "w", "share": 100}])
