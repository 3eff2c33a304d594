"""The web app's pages without a gateway: what the templates make of hostile names (text,
never markup), the explanation bars, links to play, the charts' SVG (one band per taste), and
the import percentage."""

from __future__ import annotations

import io
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fullcircle.v1 import common_pb2, gateway_pb2
from services.web import charts
from services.web.app import HERE, PLAYLIST_EXPORTS, Web
from services.web.domain import views
from services.web.settings import WebSettings

HOSTILE = ("<script>alert(1)</script>", '" onmouseover="x', "<img src=x onerror=alert(2)>")


@pytest.fixture(scope="module")
def web() -> Web:
    return Web(WebSettings(), store=None, channel=None)  # type: ignore[arg-type]


def _profile() -> common_pb2.TasteProfile:
    profile = common_pb2.TasteProfile(plays=30, listens=28, artists=3, computed_at="2026-01-01")
    for number, name in enumerate(HOSTILE, start=1):
        profile.clusters.add(
            cluster_id=number, name=name, artists=[name], all_time_share=0.3, trend="rising"
        )
        profile.top_artists.add(artist=name, weight=1.0, listens=10)
    for month in ("2024-01", "2024-02", "2024-03"):
        evolution = profile.evolution.add(month=month, listens=10, top_artists=list(HOSTILE))
        evolution.cluster_shares.update({1: 0.5, 2: 0.3, 3: 0.2})
    for kind, band in (("hour_band", "night"), ("hour_band", "morning"), ("day_type", "weekend")):
        context = profile.contexts.add(kind=kind, context=band, listens=14)
        context.cluster_shares.update({1: 0.5, 2: 0.5})
        context.top_artists.extend(HOSTILE)
    for weekday in range(7):
        for hour in range(24):
            played = profile.clock.add(weekday=weekday, hour=hour, listens=hour % 3)
            if played.listens:  # 112 hours played, by taste 1, 2 and 3 in turn
                played.cluster_shares.update({1 + (weekday + hour) % 3: 0.7, 1: 0.3})
    for year, name in zip((2024, 2023), HOSTILE, strict=False):
        tops = profile.years.add(year=year, listens=20)
        tops.top_artists.add(artist=name, listens=12, weight=0.6)
        tops.top_tags.add(tag=name, weight=0.4)
    return profile


class _Markup(HTMLParser):
    """Collects the elements and attributes a hostile name could have smuggled in."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img" or (tag == "script" and not dict(attrs).get("src", "").startswith("/")):
            self.found.append(tag)
        self.found += [name for name, _ in attrs if name.startswith("on")]


def _raw_markup(html: str) -> list[str]:
    """Elements (script, img) and event-handler attributes in `html`: none may come from a
    name; escaped, a name is only text or an attribute's value."""
    parser = _Markup()
    parser.feed(html)
    return parser.found


def test_hostile_names_are_text_on_the_taste_page(web: Web) -> None:
    profile = _profile()
    html = web.templates.get_template("taste.html").render(
        profile=profile,
        names=views.taste_names(profile),
        clusters=list(profile.clusters),
        contexts=views.contexts_by_kind(profile),
        evolution_svg=charts.evolution_svg(views.evolution_rows(profile)),
        clock_svg=charts.clock_svg(views.clock_rows(profile)),
        csrf="t",
    )
    assert _raw_markup(html) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34; onmouseover=&#34;x" in html
    years = html[html.index('id="years"') :]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <small>12</small>" in years  # an artist
    assert '<span class="tag">&#34; onmouseover=&#34;x</span>' in years  # a tag


def _settings(web: Web, **shown: object) -> str:
    """The Settings page of a listener whose key names, tastes and Spotify error are markup."""
    keys = [
        gateway_pb2.ApiKeyInfo(key_id=f"a1b2c3d4e5f{n}", prefix=f"fc_a1b2c3d4e5f{n}_", name=name,
                               created_at="2026-12-01T10:00:00+00:00", current=n == 0)
        for n, name in enumerate(HOSTILE)
    ]  # fmt: skip
    link = common_pb2.SpotifyLinkStatus(
        linked=True, status="relink_required", linked_at="2026-11-30T08:00:00+00:00",
        next_sync_at="2026-12-05T08:00:00+00:00", last_error=HOSTILE[2], cron="0 8 * * *",
        time_zone="Europe/Paris",
    )  # fmt: skip
    context: dict[str, object] = {
        "time_zone": common_pb2.TimeZone(time_zone="Europe/Paris"),
        "exclusions": [common_pb2.TasteExclusion(exclusion_id="e1", description=HOSTILE[0])],
        "steering": common_pb2.Steering(),
        "tastes": list(HOSTILE),
        "spotify": None,
        "link": link,
        "api_keys": keys,
        "new_key": None,
        "confirm_revoke": None,
        "csrf": "t",
    }
    return str(web.templates.get_template("settings.html").render(**{**context, **shown}))


def test_hostile_key_names_and_sync_errors_are_text_on_settings(web: Web) -> None:
    html = _settings(web)
    assert _raw_markup(html) == []
    keys = html[html.index('id="api-keys"') :]
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in keys
    assert keys.count('name="action" value="revoke_key"') == 3
    assert "this session's" in keys.split("</tr>")[1]  # the first key's row only
    assert "this session" not in keys.split("</tr>")[2]
    assert "The last sync failed: &lt;img src=x onerror=alert(2)&gt;" in html
    assert "Relink Spotify" in html and "no longer accepts the link" in html
    assert "shown this once" not in html and 'id="confirm-revoke"' not in html


def test_a_new_key_is_shown_once_and_revoking_the_sessions_key_asks_first(web: Web) -> None:
    info = gateway_pb2.ApiKeyInfo(key_id="ffffffffffff", prefix="fc_ffffffffffff_", name=HOSTILE[1])
    made = gateway_pb2.NewApiKey(api_key="fc_ffffffffffff_s3cr3t", key=info)
    html = _settings(web, new_key=made)
    assert _raw_markup(html) == []
    assert 'value="fc_ffffffffffff_s3cr3t"' in html and html.count("s3cr3t") == 1
    assert "“&#34; onmouseover=&#34;x”" in html
    current = gateway_pb2.ApiKeyInfo(key_id="a1b2c3d4e5f0", current=True)
    asking = _settings(web, confirm_revoke=current)
    box = asking[asking.index('id="confirm-revoke"') : asking.index('id="api-keys"')]
    assert "signs you out" in box and 'name="confirm" value="yes"' in box
    assert 'name="key_id" value="a1b2c3d4e5f0"' in box and 'name="csrf" value="t"' in box
    unlinked = _settings(web, link=common_pb2.SpotifyLinkStatus())
    assert "Not linked." in unlinked and ">Link Spotify<" in unlinked
    unknown = _settings(web, link=None)  # ingest not answering: the rest of the page works
    assert "cannot be read right now" in unknown and 'id="api-keys"' in unknown


def test_hostile_names_are_text_in_recommendations_and_import_reports(web: Web) -> None:
    rec_set = common_pb2.RecommendationSet(set_id="s1")
    for name in HOSTILE:
        item = rec_set.items.add(artist=name, because=f"because: 100% {name}", top_tags=[name])
        item.parts.add(label=name, kind="tag", percent=100)
        item.tracks.add(name=name, source="lastfm_top_tracks")
    html = web.templates.get_template("_recs.html").render(
        cards=[views.card(item) for item in rec_set.items], rec_set=rec_set, csrf="t"
    )
    assert _raw_markup(html) == []
    assert html.count('name="artist" value="&#34; onmouseover=&#34;x"') == 1
    progress = gateway_pb2.ImportProgress(stage="failed", finished=True, message=HOSTILE[0])
    progress.files.add(name=HOSTILE[2], kind="extended")
    report = web.templates.get_template("_import_report.html").render(progress=progress)
    assert _raw_markup(report) == [] and "&lt;img src=x onerror=alert(2)&gt;" in report


def test_the_evolution_chart_draws_one_band_per_taste_and_the_clock_one_cell_per_hour() -> None:
    profile = _profile()
    svg = charts.evolution_svg(views.evolution_rows(profile))
    assert svg.count('aria-roledescription="area mark"') == 3
    assert _raw_markup(svg) == []
    clock = charts.clock_svg(views.clock_rows(profile))
    assert clock.count('aria-roledescription="rect mark"') == 112  # the hours played
    assert _raw_markup(clock) == []
    # Sunday 23:00: (6 + 23) % 3 = 2, taste 3 leads with 70%
    sunday = "hour: 23; day: Sun; most played: &lt;img src=x onerror=alert(2)&gt;; listens: 2"
    assert sunday in clock


def test_the_clock_names_each_hours_leading_taste_and_is_empty_without_listens() -> None:
    profile = _profile()
    rows = {(r["day"], r["hour"]): r for r in views.clock_rows(profile)}
    assert len(rows) == 168
    assert rows[("Mon", 1)] == {
        "day": "Mon", "hour": 1, "listens": 1, "taste": HOSTILE[1], "share": 70,
    }  # fmt: skip
    assert rows[("Mon", 0)]["listens"] == 0 and rows[("Mon", 0)]["taste"] == ""
    silent = common_pb2.TasteProfile()
    silent.clock.add(weekday=0, hour=0, listens=0)
    assert views.clock_rows(silent) == []


def test_every_month_carries_every_taste_so_bands_are_unbroken() -> None:
    profile = common_pb2.TasteProfile()
    profile.clusters.add(cluster_id=1, name="rock")
    profile.clusters.add(cluster_id=2, name="rock")  # the same top tags: named apart
    profile.evolution.add(month="2024-01", listens=10).cluster_shares.update({1: 1.0})
    profile.evolution.add(month="2024-02", listens=20).cluster_shares.update({2: 0.5, 0: 0.5})
    rows = views.evolution_rows(profile)
    assert {(r["month"], r["taste"]): r["listens"] for r in rows} == {
        ("2024-01", "other"): 0.0,
        ("2024-01", "rock"): 10.0,
        ("2024-01", "rock (2)"): 0.0,
        ("2024-02", "other"): 10.0,
        ("2024-02", "rock"): 0.0,
        ("2024-02", "rock (2)"): 10.0,
    }


def test_bars_are_the_parts_widest_first_and_tracks_link_to_spotify() -> None:
    item = common_pb2.Recommendation(artist="Sade")
    item.parts.add(label="popularity", kind="popularity", percent=20)
    item.parts.add(label="tag soul", kind="tag", percent=80)
    item.parts.add(label="nothing", kind="other", percent=0)
    item.tracks.add(name="Smooth Operator", track_uri="spotify:track:1T4UvgZ0Z7iK1Hq3cN7x1A")
    item.tracks.add(name="By Your Side & More", source="your_plays")
    card = views.card(item)
    assert [(bar.label, bar.percent) for bar in card.bars] == [
        ("tag soul", 80),
        ("popularity", 20),
    ]
    assert card.tracks[0].url == "https://open.spotify.com/track/1T4UvgZ0Z7iK1Hq3cN7x1A"
    assert (
        card.tracks[1].url == "https://open.spotify.com/search/Sade%20By%20Your%20Side%20%26%20More"
    )
    assert card.tracks[1].yours
    assert views.track_url("spotify:track:x/../../evil", "A", "B").startswith(
        "https://open.spotify.com/search/"
    )


def test_import_percent_reaches_100_only_when_done() -> None:
    progress = gateway_pb2.ImportProgress
    assert views.import_percent(progress(stage="queued")) == 0
    assert views.import_percent(progress(stage="storing", plays_read=10, plays_stored=10)) == 99
    assert views.import_percent(progress(stage="storing", plays_read=10, plays_stored=5)) == 50
    assert views.import_percent(progress(stage="done")) == 100
    assert views.import_percent(progress(stage="failed")) == 0


def test_every_template_is_autoescaped_and_every_form_posts_a_csrf_token() -> None:
    for template in (HERE / "templates").glob("*.html"):
        text = template.read_text()
        assert "autoescape false" not in text, template.name
        assert "|safe" not in text or template.name in {
            "now.html",
            "taste.html",
            "import_progress.html",
        }, f"{template.name} marks something safe"
        for form in re.findall(r"<form[^>]*>.*?</form>", text, re.S):
            if 'method="post"' in form:
                assert 'name="csrf"' in form, (template.name, form[:80])


def test_several_uploaded_files_go_to_the_gateway_as_one_zip(tmp_path: Path) -> None:
    from starlette.datastructures import UploadFile

    from services.web.app import _export_file

    files = [
        UploadFile(io.BytesIO(b"[1]"), filename="Spotify/Streaming_History_Audio_0.json"),
        UploadFile(io.BytesIO(b"[2]"), filename="Spotify/Streaming_History_Audio_1.json"),
    ]
    path = _export_file(files, tmp_path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == [
            "Spotify/Streaming_History_Audio_0.json",
            "Spotify/Streaming_History_Audio_1.json",
        ]
        assert archive.read("Spotify/Streaming_History_Audio_1.json") == b"[2]"
    single = _export_file([UploadFile(io.BytesIO(b"zip"), filename="../../my.zip")], tmp_path)
    assert single == tmp_path / "my.zip" and single.read_bytes() == b"zip"


def test_logged_paths_name_tokens_and_ids_and_bound_the_labels() -> None:
    from services.web.app import _route

    token = "w-D_P7AhD9i2HKbwV9v8on_DditM0bOA3Cle0oXA_nE"
    assert _route(f"/signin/link/{token}") == "/signin/link/{token}"
    assert _route("/import/5f0c/events") == "/import/{import_id}/events"
    assert _route("/import/5f0c") == "/import/{import_id}"
    assert [_route(p) for p in ("/now", "/import", "/taste")] == ["/now", "/import", "/taste"]
    assert _route("/wp-admin/" + token) == "other"


def test_the_playlist_page_lists_tracks_as_text_and_says_who_was_left_out(web: Web) -> None:
    playlist = common_pb2.Playlist(
        prompt=HOSTILE[0],
        left_out=["Someone"],
        left_out_note="1 artist left out: no track known yet (ask again in a minute)",
    )
    for name in HOSTILE:
        playlist.tracks.add(artist=name, track=name, source="lastfm_top_tracks")
    page = web.templates.get_template("playlists.html")
    html = page.render(playlist=playlist, csrf="t", track_url=views.track_url)
    assert _raw_markup(html) == []
    assert '<p class="meta" id="left-out">1 artist left out: no track known yet' in html
    quiet = common_pb2.Playlist(prompt="chill")
    quiet.tracks.add(artist="A", track="B")
    assert 'id="left-out"' not in page.render(playlist=quiet, csrf="t", track_url=views.track_url)


def test_the_playlist_page_exports_and_says_what_spotify_was_not_given(web: Web) -> None:
    playlist = common_pb2.Playlist(prompt=HOSTILE[0])
    for name in HOSTILE:
        playlist.tracks.add(artist=name, track=name, track_uri="spotify:track:x")
    page = web.templates.get_template("playlists.html")
    html = page.render(playlist=playlist, csrf="tok", track_url=views.track_url)
    assert _raw_markup(html) == []
    form = html[html.index('id="export"') :]
    form = form[: form.index("</form>")]
    assert 'name="csrf" value="tok"' in form
    assert {"spotify", "m3u8", "xspf", "jspf"} == set(re.findall(r'name="to" value="(\w+)"', form))
    assert set(re.findall(r'name="to" value="(\w+)"', form)) == set(PLAYLIST_EXPORTS)
    written = gateway_pb2.SpotifyPlaylist(
        playlist_id="p1", url="https://open.spotify.com/playlist/p1", items=2, created=False
    )
    missing = [common_pb2.PlaylistTrack(artist=name, track=name) for name in HOSTILE]
    html = page.render(
        playlist=playlist,
        csrf="tok",
        track_url=views.track_url,
        spotify=written,
        without_uri=missing,
    )
    assert _raw_markup(html) == []
    assert 'Replaced in your Spotify: <a href="https://open.spotify.com/playlist/p1"' in html
    assert 'id="not-in-spotify"' in html
