"""The local Last.fm server answers the real pylast client like ws.audioscrobbler.com would."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pylast
import pytest

from services.enrich.lastfm_local import (
    Catalog,
    FaultPlan,
    LocalLastfmServer,
    catalog_from_hetrec,
    load_catalog_json,
    start_lastfm_server,
)
from services.enrich.lastfm_local.catalog import catalog_from_dict, invented_top_tracks
from tools.demo.catalog import generate_demo_catalog

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
HETREC = SHARED_DATA / "hetrec2011-lastfm-2k"
RUBY_LASTFM = SHARED_DATA / "lastfm-api-ruby-lastfm"
NAVIDROME = SHARED_DATA / "api-fixtures-navidrome"


class PlainHttpTransport(httpx2.HTTPTransport):
    """pylast always builds https://{ws_server host}; the local server speaks plain HTTP."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http")
        return super().handle_request(request)


def pylast_network(server: LocalLastfmServer) -> pylast.LastFMNetwork:
    """A real pylast network pointed at the local server (ws_server + an http mount)."""
    host = f"{server.host}:{server.port}"
    network = pylast.LastFMNetwork(api_key="local-test-key")
    network.ws_server = (host, "/2.0/")
    network.proxy = {f"https://{host}": PlainHttpTransport()}
    return network


def api_get(server: LocalLastfmServer, query: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"{server.url}?{query}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def admin_post(server: LocalLastfmServer, path: str, payload: dict[str, object]) -> dict:
    request = urllib.request.Request(
        server.url.replace("/2.0/", path), data=json.dumps(payload).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def hetrec_catalog() -> Catalog:
    return catalog_from_hetrec(HETREC)


@pytest.fixture(scope="module")
def hetrec_server(hetrec_catalog: Catalog) -> Iterator[LocalLastfmServer]:
    with start_lastfm_server(hetrec_catalog) as server:
        yield server


@pytest.fixture()
def network(hetrec_server: LocalLastfmServer) -> Iterator[pylast.LastFMNetwork]:
    hetrec_server.reset()
    yield pylast_network(hetrec_server)
    hetrec_server.reset()


@pytest.fixture(scope="module")
def demo_catalog_document() -> dict:
    return generate_demo_catalog(seed=3, n_artists=240)


def _hetrec_artist_id(name: str) -> int:
    with (HETREC / "artists.dat").open(encoding="utf-8") as artists:
        for row in csv.DictReader(artists, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["name"] == name:
                return int(row["id"])
    raise AssertionError(f"{name} not in artists.dat")


def test_hetrec_catalog_knows_every_artist_and_real_tags(hetrec_catalog: Catalog) -> None:
    assert len(hetrec_catalog) == 17_632
    diary = hetrec_catalog.artist("diary of dreams")
    assert diary is not None and diary.name == "Diary of Dreams"
    assert diary.top_tags[0] == ("darkwave", 100)
    assert {"gothic", "german"} <= {tag for tag, _ in diary.top_tags}
    weights = [w for _, w in diary.top_tags]
    assert weights == sorted(weights, reverse=True) and min(weights) > 0


def test_hetrec_listeners_and_playcount_come_from_user_artists(hetrec_catalog: Catalog) -> None:
    beatles_id = _hetrec_artist_id("The Beatles")
    with (HETREC / "user_artists.dat").open(encoding="utf-8") as listens:
        rows = [
            r for r in csv.DictReader(listens, delimiter="\t") if int(r["artistID"]) == beatles_id
        ]
    beatles = hetrec_catalog.artist("THE BEATLES")
    assert beatles is not None
    assert beatles.listeners == len(rows)
    assert beatles.playcount == sum(int(r["weight"]) for r in rows)
    matches = [m for _, m in beatles.similar_artists]
    assert len(matches) == 50 and matches == sorted(matches, reverse=True)
    assert "The Beatles" not in {name for name, _ in beatles.similar_artists}


def test_pylast_top_tags_and_similar_artists(network: pylast.LastFMNetwork) -> None:
    artist = network.get_artist("the beatles")
    top_tags = artist.get_top_tags()
    assert top_tags[0].item.get_name() == "classic rock"
    assert top_tags[0].weight == "100"

    similar = artist.get_similar(limit=5)
    assert len(similar) == 5
    assert similar[0].item.get_name() == "Radiohead"
    assert [s.match for s in similar] == sorted((s.match for s in similar), reverse=True)
    assert all(0 < s.match <= 1 for s in similar)


def test_pylast_info_backed_calls_and_correction(
    network: pylast.LastFMNetwork, hetrec_catalog: Catalog
) -> None:
    beatles = hetrec_catalog.artist("The Beatles")
    assert beatles is not None
    artist = network.get_artist("the beatles")
    assert artist.get_listener_count() == beatles.listeners
    assert artist.get_playcount() == beatles.playcount
    assert artist.get_name(properly_capitalized=True) == "The Beatles"
    assert network.get_artist("guns n roses").get_correction() == "Guns N' Roses"


def test_pylast_tag_top_artists_pages(
    network: pylast.LastFMNetwork, hetrec_catalog: Catalog, hetrec_server: LocalLastfmServer
) -> None:
    grime = pylast.Tag("grime", network).get_top_artists(limit=5)
    names = [top.item.get_name() for top in grime]
    assert len(names) == 5
    for name in names:
        artist = hetrec_catalog.artist(name)
        assert artist is not None and "grime" in {tag for tag, _ in artist.top_tags}
    status, second_page = api_get(
        hetrec_server, "method=tag.getTopArtists&tag=grime&limit=5&page=2&api_key=k"
    )
    page = ET.fromstring(second_page).find("topartists")
    assert status == 200 and page is not None
    assert page.get("page") == "2" and page.findall("artist")[0].get("rank") == "6"


def test_unknown_artist_is_lastfm_error_6(network: pylast.LastFMNetwork) -> None:
    with pytest.raises(pylast.WSError) as raised:
        network.get_artist("Nobody Plays This Band 1234").get_top_tags()
    assert str(raised.value.status) == "6"
    assert str(raised.value) == "The artist you supplied could not be found"


def test_injected_rate_limit_and_http_500_surface_in_pylast(
    network: pylast.LastFMNetwork, hetrec_server: LocalLastfmServer
) -> None:
    admin_post(hetrec_server, "/_faults", {"fail_next": 2, "fail_with": 29})
    for _ in range(2):
        with pytest.raises(pylast.WSError) as raised:
            network.get_artist("Cher").get_top_tags()
        assert str(raised.value.status) == "29"
    assert network.get_artist("Cher").get_top_tags()[0].weight == "100"

    admin_post(hetrec_server, "/_faults", {"fail_next": 1, "fail_with": 500})
    with pytest.raises(pylast.WSError) as raised:
        network.get_artist("Cher").get_top_tags()
    assert str(raised.value.status) == "500"
    stats = hetrec_server.stats()
    assert stats["faults_served"] == {"29": 2, "500": 1}
    assert stats["calls_per_method"]["artist.gettoptags"] == 4


def test_constructor_faults_delay_and_operation_failed(hetrec_catalog: Catalog) -> None:
    faults = FaultPlan(delay_s=0.05, fail_next=1, fail_with=8)
    with start_lastfm_server(hetrec_catalog, faults=faults) as server:
        network = pylast_network(server)
        started = time.perf_counter()
        with pytest.raises(pylast.WSError) as raised:
            network.get_artist("Cher").get_similar(limit=1)
        assert str(raised.value.status) == "8"
        assert len(network.get_artist("Cher").get_similar(limit=1)) == 1
        assert time.perf_counter() - started >= 0.1


def test_pylast_track_top_tags_on_demo_catalog(demo_catalog_document: dict) -> None:
    catalog = catalog_from_dict(demo_catalog_document)
    artist = catalog.artists[0]
    track = artist.tracks[0]
    with start_lastfm_server(catalog) as server:
        network = pylast_network(server)
        tags = pylast.Track(artist.name.upper(), track.name, network).get_top_tags()
        assert [(t.item.get_name(), int(t.weight)) for t in tags] == list(track.tags)
        with pytest.raises(pylast.WSError) as raised:
            pylast.Track(artist.name, "No Such Song Anywhere", network).get_top_tags()
        assert str(raised.value.status) == "6"


def test_pylast_artist_top_tracks_on_demo_catalog(demo_catalog_document: dict) -> None:
    catalog = catalog_from_dict(demo_catalog_document)
    artist = catalog.artists[0]
    with start_lastfm_server(catalog) as server:
        network = pylast_network(server)
        top = pylast.Artist(artist.name.lower(), network).get_top_tracks(limit=3, cacheable=False)
        assert [item.item.get_name() for item in top] == [t.name for t in artist.tracks[:3]]
        assert [item.item.get_artist().get_name() for item in top] == [artist.name] * 3
        playcounts = [int(item.weight) for item in top]
        assert playcounts == sorted(playcounts, reverse=True) and playcounts[-1] > 0
        query = urllib.parse.urlencode({"method": "artist.getTopTracks", "artist": artist.name})
        _, body = api_get(server, f"{query}&api_key=k")
        listed = ET.fromstring(body).find("toptracks")
        assert listed is not None and listed.get("total") == str(len(artist.tracks))


def test_hetrec_artists_have_invented_top_tracks_the_same_in_every_run(
    network: pylast.LastFMNetwork, hetrec_server: LocalLastfmServer
) -> None:
    top = pylast.Artist("Cher", network).get_top_tracks(limit=10, cacheable=False)
    names = [item.item.get_name() for item in top]
    assert len(names) == len(set(names)) == 5  # HetRec has no titles: five placeholders
    assert names == [t.name for t in invented_top_tracks("cher")]
    assert names != [t.name for t in invented_top_tracks("Madonna")]
    with pytest.raises(pylast.WSError) as unknown:
        pylast.Artist("Nobody Here 123", network).get_top_tracks(cacheable=False)
    assert str(unknown.value.status) == "6"
    _, page_two = api_get(
        hetrec_server, "method=artist.getTopTracks&artist=Cher&limit=2&page=2&api_key=k"
    )
    listed = ET.fromstring(page_two).find("toptracks")
    assert listed is not None
    assert [track.get("rank") for track in listed.findall("track")] == ["3", "4"]
    assert [track.findtext("name") for track in listed.findall("track")] == names[2:4]
    assert listed.get("totalPages") == "3"


def _element_paths(element: ET.Element, prefix: str = "") -> set[str]:
    path = f"{prefix}/{element.tag}"
    paths = {path}
    for child in element:
        paths |= _element_paths(child, path)
    return paths


@pytest.mark.parametrize(
    ("recorded", "query"),
    [
        ("artist_get_top_tags.xml", "method=artist.getTopTags&artist=Cher"),
        ("artist_get_similar.xml", "method=artist.getSimilar&artist=Cher&limit=3"),
        ("artist_get_info.xml", "method=artist.getInfo&artist=Cher"),
        ("artist_get_correction.xml", "method=artist.getCorrection&artist=cher"),
        ("tag_get_top_artists.xml", "method=tag.getTopArtists&tag=disco&limit=3"),
        ("artist_get_top_tracks.xml", "method=artist.getTopTracks&artist=Cher&limit=3"),
    ],
)
def test_xml_has_the_recorded_lastfm_structure(
    hetrec_server: LocalLastfmServer, recorded: str, query: str
) -> None:
    status, body = api_get(hetrec_server, f"{query}&api_key=k")
    ours = ET.fromstring(body)
    theirs = ET.parse(RUBY_LASTFM / recorded).getroot()
    assert status == 200 and ours.get("status") == "ok"
    assert _element_paths(theirs) <= _element_paths(ours)
    assert set(theirs[0].attrib) - {"streamable"} <= set(ours[0].attrib)
    if recorded == "artist_get_top_tags.xml":
        assert _element_paths(theirs) == _element_paths(ours)


def test_errors_match_lastfm_bodies(hetrec_server: LocalLastfmServer) -> None:
    recorded = ET.parse(RUBY_LASTFM / "ng.xml").getroot()
    status, body = api_get(hetrec_server, "method=artist.getTopTags&artist=Cher")
    ours = ET.fromstring(body)
    assert status == 403
    assert ours.attrib == recorded.attrib == {"status": "failed"}
    assert [(e.tag, e.attrib, e.text) for e in ours] == [
        (e.tag, e.attrib, e.text) for e in recorded
    ]
    status, body = api_get(hetrec_server, "method=artist.getBanana&artist=Cher&api_key=k")
    assert ET.fromstring(body).find("error").get("code") == "3"  # type: ignore[union-attr]
    status, body = api_get(
        hetrec_server, "method=artist.getInfo&artist=Nobody%20Here%20123&api_key=k&format=json"
    )
    assert status == 400
    assert json.loads(body) == {
        "error": 6,
        "message": "The artist you supplied could not be found",
        "links": [],
    }


def test_json_format_matches_recorded_navidrome_fixtures(hetrec_server: LocalLastfmServer) -> None:
    _, similar_body = api_get(
        hetrec_server, "method=artist.getSimilar&artist=U2&limit=4&api_key=k&format=json"
    )
    ours = json.loads(similar_body)["similarartists"]
    theirs = json.loads((NAVIDROME / "lastfm.artist.getsimilar.json").read_text())["similarartists"]
    assert set(ours) == set(theirs)
    assert set(ours["artist"][0]) == set(theirs["artist"][0])
    assert len(ours["artist"]) == 4

    _, info_body = api_get(hetrec_server, "method=artist.getInfo&artist=u2&api_key=k&format=json")
    info = json.loads(info_body)["artist"]
    recorded = json.loads((NAVIDROME / "lastfm.artist.getinfo.json").read_text())["artist"]
    assert set(info) == set(recorded)
    assert set(info["stats"]) <= set(recorded["stats"])
    assert info["name"] == "U2" and int(info["stats"]["listeners"]) > 0

    _, tracks_body = api_get(
        hetrec_server, "method=artist.getTopTracks&artist=U2&limit=2&api_key=k&format=json"
    )
    top = json.loads(tracks_body)["toptracks"]
    recorded_top = json.loads((NAVIDROME / "lastfm.artist.gettoptracks.json").read_text())
    theirs_top = recorded_top["toptracks"]
    assert set(top) == set(theirs_top)
    assert set(top["@attr"]) == set(theirs_top["@attr"])
    assert set(top["track"][0]) == set(theirs_top["track"][0])
    assert set(top["track"][0]["artist"]) == set(theirs_top["track"][0]["artist"])
    assert [track["@attr"]["rank"] for track in top["track"]] == ["1", "2"]
    assert top["track"][0]["artist"]["name"] == "U2"


def test_stats_count_concurrent_calls(hetrec_server: LocalLastfmServer) -> None:
    hetrec_server.reset()
    queries = ["method=artist.getInfo&artist=Cher&api_key=k"] * 30 + [
        "method=artist.getSimilar&artist=Madonna&api_key=k"
    ] * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [status for status, _ in pool.map(lambda q: api_get(hetrec_server, q), queries)]
    assert statuses == [200] * 50
    with urllib.request.urlopen(hetrec_server.url.replace("/2.0/", "/_stats")) as response:
        stats = json.loads(response.read())
    assert stats["total_calls"] == 50
    assert stats["calls_per_method"] == {"artist.getinfo": 30, "artist.getsimilar": 20}
    assert stats["repeated_calls"] == 48
    assert stats["repeated_examples"][0] == ["artist.getinfo", "cher", "", "", 29]
    admin_post(hetrec_server, "/_reset", {})
    assert hetrec_server.stats()["total_calls"] == 0


def test_repeats_are_counted_per_method_and_name_not_per_spelling_case(
    hetrec_server: LocalLastfmServer,
) -> None:
    hetrec_server.reset()
    for query in (
        "method=artist.getTopTags&artist=Cher&api_key=k",
        "method=artist.getTopTags&artist=CHER&api_key=k",
        "method=artist.getSimilar&artist=Cher&api_key=k",
        "method=track.getTopTags&artist=Cher&track=Believe&api_key=k",
        "method=track.getTopTags&artist=Cher&track=Strong%20Enough&api_key=k",
    ):
        api_get(hetrec_server, query)
    stats = hetrec_server.stats()
    assert stats["repeated_calls"] == 1
    assert stats["repeated_examples"] == [["artist.gettoptags", "cher", "", "", 1]]


def test_max_rate_answers_error_29_beyond_the_rate_in_any_second(
    hetrec_server: LocalLastfmServer,
) -> None:
    """Last.fm's own limit, for runs at the real rate: the 6th call within a second is 29,
    and a refused call is neither answered nor counted as a repeat."""
    hetrec_server.reset()
    admin_post(hetrec_server, "/_faults", {"max_rate": 5})
    statuses = [api_get(hetrec_server, "method=artist.getInfo&artist=Cher&api_key=k")[0]]
    statuses += [
        api_get(hetrec_server, f"method=artist.getTopTags&artist=A{i}&api_key=k")[0]
        for i in range(6)
    ]
    stats = hetrec_server.stats()
    hetrec_server.reset()
    assert statuses.count(200) + statuses.count(400) == 5, statuses
    assert stats["faults_served"] == {"29": 2}
    assert stats["repeated_calls"] == 0


def test_catalog_json_round_trip(demo_catalog_document: dict, tmp_path: Path) -> None:
    catalog = catalog_from_dict(demo_catalog_document)
    catalog.to_json(tmp_path / "catalog.json")
    assert load_catalog_json(tmp_path / "catalog.json").artists == catalog.artists


def test_module_entry_point_serves_until_sigterm(
    demo_catalog_document: dict, tmp_path: Path
) -> None:
    catalog_path = tmp_path / "demo_catalog.json"
    catalog_path.write_text(json.dumps(demo_catalog_document), encoding="utf-8")
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.enrich.lastfm_local",
            "--catalog",
            str(catalog_path),
            "--port-file",
            str(port_file),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}/2.0/"
        name = demo_catalog_document["artists"][0]["name"]
        query = urllib.parse.urlencode({"method": "artist.getInfo", "artist": name, "api_key": "k"})
        with urllib.request.urlopen(f"{url}?{query}", timeout=10) as response:
            assert ET.fromstring(response.read()).find("artist/name").text == name  # type: ignore[union-attr]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert b"local Last.fm serving 240 artists" in stderr
