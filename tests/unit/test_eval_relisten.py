"""Protocol A (relistening): the harness against a separately written reference, the cutoff
rule and tie-breaking on a hand-made history, the per-cutoff paired report, and the
Full-Circle ranker on real histories."""

from __future__ import annotations

import json
import math
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import services.features.domain.taste as taste
import tools.lab.relisten as relisten
from fullcircle.ranking import ndcg_at_k, recall_at_k
from services.features.adapters import worker
from services.features.domain.recency import RecencyWeights
from tools.lab.common import paired_difference, rank_by_score
from tools.lab.relisten import (
    BASELINES,
    OWN_RANKER,
    RelistenResult,
    development_listens,
    format_table,
    load_listens,
    main,
    relisten_cutoffs,
    run_relisten,
    served_weights,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"  # ../shared/data
HISTORIES = {
    "sanabil": DATA / "spotify-history-sanabil" / "my_spotify_data.zip",
    "efrrowini": DATA / "spotify-history-efrrowini",
    "ryanpj2": DATA / "spotify-account-ryanpj2",
}
DAY = 86_400


def _utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# --- an independent, deliberately plain reading of protocol A (pandas + pure Python) ---


def _reference_listens(path: Path) -> pd.DataFrame:
    documents: list[tuple[str, list[dict[str, RelistenResult]]]] = []
    if path.is_dir():
        documents = [(f.name, json.loads(f.read_text())) for f in sorted(path.glob("*.json"))]
    else:
        with zipfile.ZipFile(path) as archive:
            documents = [
                (Path(n).name, json.loads(archive.read(n)))
                for n in archive.namelist()
                if n.endswith(".json")
            ]
    extended, account = [], []
    for name, rows in documents:
        frame = pd.DataFrame(rows)
        if "spotify_track_uri" in frame:
            extended.append(frame[frame["spotify_track_uri"].notna()])
        elif name.startswith("StreamingHistory_music_"):
            account.append(frame)
    parts = []
    if extended:
        plays = (
            pd.concat(extended)
            .groupby(["ts", "spotify_track_uri"], as_index=False)
            .agg(ms=("ms_played", "max"), artist=("master_metadata_album_artist_name", "first"))
        )
        plays["when"] = pd.to_datetime(plays["ts"], utc=True)
        parts.append(plays)
    if account:
        plays = (
            pd.concat(account)
            .groupby(["endTime", "artistName", "trackName"], as_index=False)
            .agg(ms=("msPlayed", "max"))
        )
        plays["artist"] = plays["artistName"]
        plays["when"] = pd.to_datetime(plays["endTime"], utc=True)
        parts.append(plays)
    listens = pd.concat(parts)
    listens = listens[listens["ms"] >= 30_000]
    seconds = (listens["when"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return pd.DataFrame({"t": seconds.astype("int64"), "artist": listens["artist"]})


def _reference_cutoffs(first: int, last: int) -> list[int]:
    newest = pd.Timestamp(last, unit="s", tz="UTC")
    month = pd.Timestamp(year=newest.year, month=newest.month, day=1, tz="UTC")
    found: list[int] = []
    while month.timestamp() >= first + 30 * DAY:
        if month.timestamp() + 30 * DAY <= last and len(found) < 12:
            found.append(int(month.timestamp()))
        month -= pd.DateOffset(months=1)
    return sorted(found)


def _reference_score(kind: str, ages_days: pd.Series) -> float:
    if kind == "count_all":
        return float(len(ages_days))
    if kind == "recent30":
        return float((ages_days < 30).sum())
    if kind.startswith("exp"):
        return float(sum(2.0 ** (-a / float(kind[3:])) for a in ages_days))
    return float(sum(max(a, 1 / DAY) ** -0.5 for a in ages_days))


def _reference_protocol(path: Path) -> dict[str, tuple[float, float]]:
    listens = _reference_listens(path)
    totals = {name: [0.0, 0.0] for name in BASELINES}
    used = 0
    for cutoff in _reference_cutoffs(int(listens["t"].min()), int(listens["t"].max())):
        past = listens[listens["t"] < cutoff]
        future = listens[(listens["t"] >= cutoff) & (listens["t"] < cutoff + 30 * DAY)]
        future_counts = future["artist"].value_counts()
        relevant = {a for a in past["artist"].unique() if future_counts.get(a, 0) >= 3}
        if not relevant:
            continue
        used += 1
        ages = past.assign(age=(cutoff - past["t"]) / DAY).groupby("artist")["age"]
        for name in BASELINES:
            scores = {artist: _reference_score(name, group) for artist, group in ages}
            top = sorted(scores, key=lambda a: (-scores[a], a))[:20]
            dcg = sum(1 / math.log2(i + 2) for i, a in enumerate(top) if a in relevant)
            ideal = sum(1 / math.log2(i + 2) for i in range(min(20, len(relevant))))
            totals[name][0] += dcg / ideal
            totals[name][1] += sum(a in relevant for a in top) / len(relevant)
    return {name: (ndcg / used, recall / used) for name, (ndcg, recall) in totals.items()}


@pytest.fixture(scope="module")
def results() -> dict[str, RelistenResult]:
    return {name: run_relisten(path) for name, path in HISTORIES.items()}


@pytest.mark.parametrize("history", ["efrrowini", "ryanpj2", "sanabil"])
def test_baselines_agree_with_an_independent_implementation(
    history: str, results: dict[str, RelistenResult]
) -> None:
    reference = _reference_protocol(HISTORIES[history])
    measured = results[history].methods
    for name, (ndcg, recall) in reference.items():
        assert measured[name]["ndcg@20"] == pytest.approx(ndcg, abs=1e-9), name
        assert measured[name]["recall@20"] == pytest.approx(recall, abs=1e-9), name


# The per-listener ranker must beat the best fixed baseline (chosen after the fact) on
# every history; a tie is not a win.
@pytest.mark.parametrize("history", ["sanabil", "efrrowini", "ryanpj2"])
def test_fullcircle_beats_the_best_fixed_baseline(
    history: str, results: dict[str, RelistenResult]
) -> None:
    result = results[history]
    best = result.best_baseline
    methods = result.methods
    assert methods[OWN_RANKER]["ndcg@20"] > methods[best]["ndcg@20"] + 1e-9, format_table(result)


@pytest.mark.parametrize("history", ["sanabil", "efrrowini", "ryanpj2"])
def test_fullcircle_beats_the_seeds_exp90_on_both_metrics(
    history: str, results: dict[str, RelistenResult]
) -> None:
    methods = results[history].methods
    for metric in ("ndcg@20", "recall@20"):
        assert methods[OWN_RANKER][metric] > methods["exp90"][metric] + 1e-9, metric


def test_protocol_a_scores_the_weights_the_profile_is_computed_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The features worker computes profiles with this very function object; protocol A's
    # ranker calls it too, and what it scores is what that call weighed the artists with.
    assert relisten.listener_as_of is worker.listener_as_of
    served: list[RecencyWeights] = []
    weigh = taste.recency_weights

    def recording(*args: object, **kwargs: object) -> RecencyWeights:
        result = weigh(*args, **kwargs)  # type: ignore[arg-type]
        served.append(result)
        return result

    monkeypatch.setattr(taste, "recency_weights", recording)
    ts, names = load_listens(HISTORIES["efrrowini"])
    artists = sorted(set(names))
    index = {name: i for i, name in enumerate(artists)}
    artist_idx = np.array([index[name] for name in names])
    cutoff = float(relisten_cutoffs(int(ts[0]), int(ts[-1]))[-1])
    scores = served_weights(artists)(ts, artist_idx, len(artists), cutoff)
    assert len(served) == 1 and served[0].fit.fitted, served[0].fit.describe()
    heard = sorted(set(artist_idx[ts < cutoff]))
    # The profile's artists are the heard ones in name order, as the served weights hold them.
    assert scores[heard] == pytest.approx(served[0].weights, rel=1e-12)


def test_a_development_run_never_reads_the_official_months() -> None:
    ts, _ = load_listens(HISTORIES["sanabil"])
    official = relisten_cutoffs(int(ts[0]), int(ts[-1]))
    kept = development_listens(ts)
    assert kept.any() and ts[kept].max() < official[0] <= ts[~kept].min()
    development = run_relisten(HISTORIES["sanabil"], development=True)
    last_official_free = datetime.fromtimestamp(official[0], UTC).date().isoformat()
    assert development.cutoffs and max(development.cutoffs) < last_official_free


@pytest.mark.parametrize("history", ["sanabil", "efrrowini", "ryanpj2"])
def test_per_cutoff_scores_average_to_the_reported_means(
    history: str, results: dict[str, RelistenResult]
) -> None:
    result = results[history]
    assert set(result.per_cutoff) == {*BASELINES, OWN_RANKER}
    for name, values in result.per_cutoff.items():
        assert len(values) == len(result.cutoffs)
        assert float(np.mean(values)) == pytest.approx(result.methods[name]["ndcg@20"], abs=1e-12)
    paired = result.own_vs_best_baseline()
    assert paired.wins + paired.ties + paired.losses == len(result.cutoffs)
    own, best = result.methods[OWN_RANKER]["ndcg@20"], result.methods[result.best_baseline]
    assert paired.mean == pytest.approx(own - best["ndcg@20"], abs=1e-12)
    assert f"{OWN_RANKER} - {result.best_baseline}" in format_table(result)


def test_real_history_cutoffs_follow_the_month_rule(results: dict[str, RelistenResult]) -> None:
    # efrrowini has no 2025: its qualifying 2025 months have nothing relevant and are skipped.
    assert results["efrrowini"].cutoffs == [
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
    ]
    ts, _ = load_listens(HISTORIES["ryanpj2"])
    assert len(results["ryanpj2"].cutoffs) == len(relisten_cutoffs(int(ts[0]), int(ts[-1])))


# --- hand-made histories ---


def test_cutoffs_walk_back_from_the_last_listens_month() -> None:
    first, last = _utc("2023-01-10T12:00:00"), _utc("2023-06-05T08:00:00")
    # June 1 + 30 d is after the last listen; Feb 1 is within 30 d of the first.
    assert [
        datetime.fromtimestamp(c, UTC).date().isoformat() for c in relisten_cutoffs(first, last)
    ] == ["2023-03-01", "2023-04-01", "2023-05-01"]
    assert relisten_cutoffs(first, _utc("2023-03-01T00:00:00")) == []


def test_cutoff_qualifies_exactly_at_both_boundaries() -> None:
    cutoff = _utc("2023-03-01T00:00:00")
    assert relisten_cutoffs(cutoff - 30 * DAY, cutoff + 30 * DAY) == [cutoff]
    assert relisten_cutoffs(cutoff - 30 * DAY + 1, cutoff + 30 * DAY) == []
    assert relisten_cutoffs(cutoff - 30 * DAY, cutoff + 30 * DAY - 1) == []


def test_only_the_twelve_latest_cutoffs_are_kept() -> None:
    cutoffs = relisten_cutoffs(_utc("2010-01-01T00:00:00"), _utc("2020-01-31T00:00:00"))
    assert len(cutoffs) == 12
    assert cutoffs[-1] == _utc("2020-01-01T00:00:00")
    assert cutoffs[0] == _utc("2019-02-01T00:00:00")


def test_ties_go_to_the_lower_code_point_name() -> None:
    names = np.array(["Zedd", "ABBA", "abba", "Ádele"])
    order = np.argsort(names)  # code-point order: ABBA, Zedd, abba, Ádele
    ids = np.empty(len(names), dtype=np.int64)
    ids[order] = np.arange(len(names))
    ranked = rank_by_score(np.array([1.0, 1.0, 2.0, 1.0]), ids)
    assert list(names[ranked]) == ["abba", "ABBA", "Zedd", "Ádele"]


def test_paired_difference_counts_and_standard_error() -> None:
    paired = paired_difference([0.5, 0.7, 0.9, 1.0], [0.4, 0.7, 1.0, 0.8])
    diffs = np.array([0.1, 0.0, -0.1, 0.2])
    assert paired.mean == pytest.approx(diffs.mean())
    assert paired.standard_error == pytest.approx(diffs.std(ddof=1) / 2.0)
    assert (paired.wins, paired.ties, paired.losses) == (2, 1, 1)
    assert paired.describe().startswith("+0.0500 +- ")
    single = paired_difference([1.0], [0.5])
    assert (single.mean, single.standard_error, single.wins) == (0.5, 0.0, 1)


def test_metrics_on_a_known_ranking() -> None:
    hits = np.array([False, True, True] + [False] * 20)
    assert recall_at_k(hits, 4, 20) == 0.5
    ideal = 1 + 1 / math.log2(3) + 0.5 + 1 / math.log2(5)
    assert ndcg_at_k(hits, 4, 20) == pytest.approx((1 / math.log2(3) + 0.5) / ideal)


def _account_history(tmp_path: Path, listens: list[tuple[str, str, int]]) -> Path:
    rows = [
        {"endTime": when, "artistName": artist, "trackName": f"{artist} song", "msPlayed": ms}
        for when, artist, ms in listens
    ]
    (tmp_path / "StreamingHistory_music_0.json").write_text(json.dumps(rows))
    return tmp_path


def test_hand_made_history_ranks_ties_by_name(tmp_path: Path) -> None:
    listens = [
        ("2023-01-01 10:00", "Bach", 60_000),
        ("2023-01-01 10:00", "Bach", 90_000),  # same key: one play
        ("2023-01-01 11:00", "Adele", 60_000),
        ("2023-01-02 11:00", "Coldplay", 10_000),  # not a listen (< 30 s)
        ("2023-01-20 11:00", "Coldplay", 45_000),
        *[(f"2023-03-0{d} 09:00", "Adele", 200_000) for d in range(1, 4)],
        *[(f"2023-03-0{d} 10:00", "Bach", 200_000) for d in range(1, 4)],
        ("2023-04-15 09:00", "Coldplay", 200_000),
    ]
    result = run_relisten(_account_history(tmp_path, listens))
    assert result.cutoffs == ["2023-03-01"]
    # Feb 1 qualifies but nothing is relevant in February. For count_all all three artists
    # tie at one listen; name order puts the two relevant ones (Adele, Bach) first.
    assert result.methods["count_all"] == {"ndcg@20": 1.0, "recall@20": 1.0}
    payload = json.loads(result.to_json())
    assert payload["protocol"] == "relisten"
    assert set(payload["methods"]) == {*BASELINES, OWN_RANKER}


def test_cli_prints_per_cutoff_ndcg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listens = [
        ("2023-01-01 11:00", "Adele", 60_000),
        ("2023-01-01 10:00", "Bach", 60_000),
        *[(f"2023-03-0{d} 09:00", "Adele", 200_000) for d in range(1, 4)],
        ("2023-04-15 09:00", "Bach", 200_000),
    ]
    assert main([str(_account_history(tmp_path, listens)), "--per-cutoff"]) == 0
    out = capsys.readouterr().out
    assert "ndcg@20 per cutoff" in out
    # Only March 1 has a relevant artist; count_all ties both, and Adele comes first by name.
    row = next(line for line in out.splitlines() if line.startswith("2023-03-01"))
    assert row.split()[1] == "1.0000"


def test_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(HISTORIES["ryanpj2"]), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["dataset"] == "spotify-account-ryanpj2"
    assert payload["methods"]["exp90"]["ndcg@20"] > 0.9


def test_missing_history_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["/no/such/export.zip"]) == 2
    assert "no listening history" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("path", "listens", "first", "last"),
    [
        # lastfm-to-csv: no header, "20 Nov 2020 09:35" dates, now-playing rows without one
        (DATA / "lastfm-csv-pingw33n" / "lastfm_scrobbles.csv", 60_647, "2008-08-20", "2020-11-20"),
        # lastfm.ghan.nl: a header, Unix seconds in `uts`
        (
            DATA / "lastfm-ghan-csv-sachawheeler" / "scrobbles.csv",
            11_622,
            "2024-01-12",
            "2024-07-11",
        ),
    ],
)
def test_a_lastfm_scrobble_export_is_one_listen_per_dated_scrobble(
    path: Path, listens: int, first: str, last: str
) -> None:
    ts, artists = load_listens(path)
    assert ts.size == len(artists) == listens
    assert (np.diff(ts) >= 0).all()
    days = [datetime.fromtimestamp(int(t), UTC).date().isoformat() for t in (ts[0], ts[-1])]
    assert days == [first, last]
