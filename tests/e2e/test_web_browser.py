"""The web app in a real browser (headless Chromium driven by Playwright) on the running
stack, as a listener meets it: sign in with the key, upload the sanabil export and watch the
progress bar reach 100% and the per-file report, see 20 recommendations arrive live (server-
sent events), dislike one and see it gone, the taste page's stream graph with one band per
taste and its listening clock, a playlist prompt, the pages on a phone's width; an export
dropped as files or as a folder (walked through its entries, as Chromium gives a dropped
folder) and uploaded by the page's script; API keys made,
listed and revoked on Settings (the session's own only after a warning, and then signed out);
and an export whose names are markup shown as text, with no script run. A screenshot of each
page goes to the test's tmp folder.

Skipped, saying how to get one, where no Chromium is installed (Debian: `apt-get install -y
chromium`; CI's .ci/run installs it). The waits are for elements and events, with generous
timeouts: CI is a loaded two-core machine."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from fullcircle.client import FullCircleClient
from fullcircle.v1 import common_pb2
from tests.e2e.web_support import HOSTILE_ARTIST, HOSTILE_FILE, hostile_export, sign_in_link
from tools.stack.local import StackState

CHROMIUM = os.environ.get("FULLCIRCLE_CHROMIUM", "/usr/bin/chromium")
NO_BROWSER = (
    f"no Chromium at {CHROMIUM}: the browser tests need one "
    "(Debian/Ubuntu: `apt-get install -y chromium`; or set FULLCIRCLE_CHROMIUM)"
)
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=NO_BROWSER),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect
MINUTE = 60_000  # Playwright's timeouts are in milliseconds
expect.set_options(timeout=2 * MINUTE)
T = TypeVar("T")


@contextlib.contextmanager
def _browser() -> Iterator[object]:
    """Chromium for one test. Playwright's sync API runs in a thread of its own: the test's
    thread has pytest-asyncio's event loop running, where the sync API refuses to start."""
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Pages:
    """One browser page of a listener, saving a screenshot per page visited."""

    def __init__(self, browser: object, base: str, folder: Path) -> None:
        self.context = browser.new_context(base_url=base)  # type: ignore[attr-defined]
        self.page = self.context.new_page()
        self.page.set_default_timeout(2 * MINUTE)
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dialog)
        self.folder = folder

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    def shot(self, name: str) -> None:
        self.page.screenshot(path=self.folder / f"{name}.png", full_page=True)


def _in_own_loop(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work()` to its end on an event loop of its own thread: the browser's thread has
    Playwright's loop running."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work()).result()


def _until_tracks_are_known(stack: StackState, key: str) -> None:
    """Until the current set's items carry tracks to play (in the browser's thread)."""

    async def poll() -> None:
        async with FullCircleClient(stack.gateway_address, key) as client:
            for _ in range(120):
                if any(item.tracks for item in (await client.recommendations(20)).items):
                    return
                await asyncio.sleep(2)  # polling the gateway, not the page
        raise AssertionError("no tracks to play in the set after 240 s")

    _in_own_loop(poll)


def _profile(stack: StackState, key: str) -> common_pb2.TasteProfile:
    """The listener's profile from the gateway (in the browser's thread: a loop of its own)."""

    async def read() -> common_pb2.TasteProfile:
        async with FullCircleClient(stack.gateway_address, key) as client:
            return await client.taste_profile()

    return _in_own_loop(read)


async def test_a_listener_imports_sees_recommendations_live_dislikes_one_and_reads_their_taste(
    stack: StackState, new_listener, shared_data: Path, tmp_path: Path
) -> None:
    _, key = await new_listener(f"browser-{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(_listener_visit, stack, key, shared_data, tmp_path)


def _listener_visit(stack: StackState, key: str, shared_data: Path, tmp_path: Path) -> None:
    with _browser() as browser:
        _listener_pages(Pages(browser, stack.web_url, tmp_path), stack, key, shared_data)


def _listener_pages(tab: Pages, stack: StackState, key: str, shared_data: Path) -> None:
    page = tab.page

    page.goto("/now")
    expect(page).to_have_url(re.compile(r"/signin$"))
    tab.shot("signin")
    page.fill("#api_key", key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/now$"))
    expect(page.get_by_text("import your listening history")).to_be_visible()
    live = tab.context.new_page()  # the Now page, open before there is anything to show
    live.set_default_timeout(2 * MINUTE)
    live.goto("/now")
    expect(live.locator("#live")).to_be_visible()  # its event stream is open

    page.goto("/import")
    page.set_input_files("#export", shared_data / "spotify-history-sanabil/my_spotify_data.zip")
    tab.shot("import")
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/import/[0-9a-f-]+$"))
    expect(page.locator("#import-message")).to_contain_text("22671 new", timeout=5 * MINUTE)
    assert page.eval_on_selector("#import-progress", "bar => bar.value") == 100
    expect(page.locator("#import-percent")).to_have_text("100")
    expect(page.locator("#import-report tbody tr").first).to_be_visible()
    tab.shot("import-done")

    # the set arrives on the open Now page by the live updates, with no reload
    expect(live.locator("li.card")).to_have_count(20, timeout=8 * MINUTE)
    expect(live.locator("li.card .bars .bar").first).to_be_visible()
    live.close()
    page.goto("/now")
    cards = page.locator("li.card")
    _until_tracks_are_known(stack, key)  # enrich fetches them after the set is made
    page.reload()
    expect(cards).to_have_count(20)
    tracks = page.locator("li.card .tracks a")
    expect(tracks.first).to_be_visible()
    assert (tracks.first.get_attribute("href") or "").startswith("https://open.spotify.com/")
    tab.shot("now")
    artist = cards.first.get_attribute("data-artist")
    assert artist
    same_artist = page.locator("li.card").filter(
        has=page.get_by_role("heading", name=artist, exact=True)
    )
    expect(same_artist).to_have_count(1)
    same_artist.get_by_role("button", name="Dislike").click()
    expect(same_artist).to_have_count(0)
    expect(cards).to_have_count(20)
    page.reload()
    expect(cards).to_have_count(20)
    expect(same_artist).to_have_count(0)

    profile = _profile(stack, key)
    tastes = {cid for month in profile.evolution for cid in month.cluster_shares}
    assert len(tastes) >= 2
    page.goto("/taste")
    bands = page.locator('#evolution svg [aria-roledescription="area mark"]')
    expect(bands).to_have_count(len(tastes))
    played_hours = [hour for hour in profile.clock if hour.listens]
    assert len(profile.clock) == 168 and played_hours
    cells = page.locator('#clock svg [aria-roledescription="rect mark"]')
    expect(cells).to_have_count(len(played_hours))
    busiest = max(played_hours, key=lambda hour: hour.listens)
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[busiest.weekday]
    # the busiest hour of the week is the cell of its local hour and weekday, with its listens
    busiest_cell = (
        f'#clock svg [aria-label^="hour: {busiest.hour}; day: {day}; "]'
        f'[aria-label*="; listens: {busiest.listens};"]'
    )
    expect(page.locator(busiest_cell)).to_have_count(1)
    expect(page.locator("#years tbody tr")).to_have_count(len(profile.years))
    top = profile.years[0].top_artists[0].artist
    expect(page.locator("#years tbody tr").first).to_contain_text(top)
    expect(page.locator("#tastes tbody tr")).to_have_count(len(profile.clusters))
    tab.shot("taste")

    page.goto("/playlists")
    page.fill("#prompt", "high energy morning music")
    page.get_by_role("button", name="Make a playlist").click()
    expect(page.locator("#reading")).to_contain_text("energy")
    expect(page.locator("#playlist li").first).to_be_visible()
    tab.shot("playlists")
    for path in ("/rediscover", "/settings"):
        page.goto(path)
        tab.shot(path.strip("/"))

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    for path in ("/now", "/taste", "/settings", "/import"):
        page.goto(path)
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert fits, f"{path} is wider than a phone's screen"
        tab.shot(f"phone-{path.strip('/')}")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    page.goto("/now")
    expect(page).to_have_url(re.compile(r"/signin$"))
    assert tab.dialogs == []


async def test_names_that_are_markup_show_as_text_and_run_nothing(
    stack: StackState, new_listener, shared_data: Path, tmp_path: Path
) -> None:
    _, key = await new_listener(f"browser-xss-{uuid.uuid4().hex[:6]}")
    link = await sign_in_link(stack, key)
    export = hostile_export(shared_data, tmp_path)
    with_upload = await asyncio.to_thread(_hostile_upload, stack, link, export, tmp_path)
    await _profile_naming(stack, key, HOSTILE_ARTIST)
    await asyncio.to_thread(_hostile_taste, stack, with_upload, tmp_path)


def _hostile_upload(stack: StackState, link: str, export: Path, folder: Path) -> list[dict]:
    """Sign in by link and upload the export; returns the browser's cookies."""
    with _browser() as browser:
        tab = Pages(browser, stack.web_url, folder)
        page = tab.page
        page.goto(link)
        expect(page).to_have_url(re.compile(r"/now$"))
        page.goto("/import")
        page.set_input_files("#export", export)
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#import-message")).to_contain_text("new", timeout=3 * MINUTE)
        report = page.locator("#import-report").get_by_text(HOSTILE_FILE, exact=True)
        expect(report).to_be_visible()
        tab.shot("import-hostile")
        assert tab.dialogs == [], f"a name ran as script: {tab.dialogs}"
        cookies: list[dict] = tab.context.cookies()
        return cookies


async def _profile_naming(stack: StackState, key: str, artist: str) -> None:
    """Until the taste profile (features builds it after the import) names `artist`."""
    async with FullCircleClient(stack.gateway_address, key) as client:
        for _ in range(90):
            try:
                profile = await client.taste_profile()
                if any(a.artist == artist for a in profile.top_artists):
                    return
            except grpc.aio.AioRpcError:
                pass  # no profile yet
            await asyncio.sleep(2)  # polling the gateway for the profile, not the page
    raise AssertionError(f"no taste profile naming {artist!r} in 180 s")


def _hostile_taste(stack: StackState, cookies: list[dict], folder: Path) -> None:
    with _browser() as browser:
        tab = Pages(browser, stack.web_url, folder)
        tab.context.add_cookies(cookies)
        page = tab.page
        page.goto("/taste")
        expect(page.locator("#top-artists").get_by_text(HOSTILE_ARTIST)).to_be_visible()
        assert page.locator("script:not([src])").count() == 0
        assert page.locator("img").count() == 0
        tab.shot("taste-hostile")
        assert tab.dialogs == [], f"a name ran as script: {tab.dialogs}"


async def test_a_listener_makes_and_revokes_keys_and_their_own_only_after_a_warning(
    stack: StackState, new_listener, tmp_path: Path
) -> None:
    _, key = await new_listener(f"browser-keys-{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(_keys_visit, stack, key, tmp_path)


def _sign_in(tab: Pages, key: str) -> None:
    tab.page.goto("/signin")
    tab.page.fill("#api_key", key)
    tab.page.get_by_role("button", name="Sign in").click()


def _keys_visit(stack: StackState, key: str, folder: Path) -> None:
    with _browser() as browser:
        tab = Pages(browser, stack.web_url, folder)
        page = tab.page
        _sign_in(tab, key)
        expect(page).to_have_url(re.compile(r"/now$"))
        page.goto("/settings")
        expect(page.locator("#spotify-status")).to_have_text("Not linked.")
        rows = page.locator("#api-keys tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("this session's")

        page.fill("#key_name", HOSTILE_ARTIST)
        page.get_by_role("button", name="Create a key").click()
        made = page.locator("#new-key-value").input_value()
        assert made.startswith("fc_") and made != key
        expect(page.locator("#new-key")).to_contain_text(f"“{HOSTILE_ARTIST}”")
        expect(rows).to_have_count(2)
        tab.shot("settings-new-key")
        page.goto("/settings")
        assert made not in page.content() and key not in page.content()  # shown that once

        other = Pages(browser, stack.web_url, folder)  # the new key signs in elsewhere
        _sign_in(other, made)
        expect(other.page).to_have_url(re.compile(r"/now$"))
        # off /now first: its live-update stream ends with the key, and the page's own reaction
        # to that would race (and abort) the navigation checked below
        other.page.goto("/playlists")
        named = rows.filter(has_text=HOSTILE_ARTIST)
        named.get_by_role("button", name="Revoke").click()
        expect(rows).to_have_count(1)
        other.page.goto("/settings")  # its session ends with the key
        expect(other.page.locator("#error-message")).to_contain_text("no longer accepted")

        rows.first.get_by_role("button", name="Revoke").click()
        warning = page.locator("#confirm-revoke")
        expect(warning).to_contain_text("signs you out")
        tab.shot("settings-confirm-revoke")
        page.get_by_role("link", name="Keep it").click()
        expect(rows).to_have_count(1)  # kept: nothing happened without the confirmation
        rows.first.get_by_role("button", name="Revoke").click()
        page.get_by_role("button", name="Revoke it and sign out").click()
        expect(page).to_have_url(re.compile(r"/signin$"))
        page.goto("/now")
        expect(page).to_have_url(re.compile(r"/signin$"))
        _sign_in(tab, key)
        expect(page.locator("#error-message")).to_contain_text("not one Full-Circle knows")
        assert tab.dialogs == [] and other.dialogs == [], "a name ran as script"


# What Chromium's DataTransfer holds for a dropped folder (a script cannot make a real one): a
# directory entry whose reader answers its entries in batches, then an empty batch; a hidden
# file of the kind a Mac leaves in folders is in it too.
DROP_FOLDER = """([folder, files]) => {
  const entry = (path, file) => ({ isFile: true, isDirectory: false, fullPath: path,
                                   file: (ok) => ok(file) });
  const children = files.map(([name, text]) =>
    entry(`/${folder}/${name}`, new File([text], name, { type: "application/json" })));
  children.push(entry(`/${folder}/.DS_Store`, new File(["x"], ".DS_Store")));
  const batches = [children.slice(0, 1), children.slice(1), []];
  const directory = { isFile: false, isDirectory: true, fullPath: `/${folder}`,
                      createReader: () => ({ readEntries: (ok) => ok(batches.shift() || []) }) };
  const drop = new Event("drop", { bubbles: true, cancelable: true });
  Object.defineProperty(drop, "dataTransfer", {
    value: { items: [{ kind: "file", webkitGetAsEntry: () => directory }], files: [] },
  });
  document.getElementById("drop").dispatchEvent(drop);
}"""
DROP_FILES = """(names) => {
  const transfer = new DataTransfer();
  for (const name of names) transfer.items.add(new File(["[]"], name));
  document.getElementById("drop").dispatchEvent(
    new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: transfer }));
}"""


async def test_an_export_dropped_as_a_folder_is_uploaded_with_its_files(
    stack: StackState, new_listener, shared_data: Path, tmp_path: Path
) -> None:
    _, key = await new_listener(f"browser-drop-{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(_drop_visit, stack, key, shared_data, tmp_path)


def _drop_visit(stack: StackState, key: str, shared_data: Path, folder: Path) -> None:
    history = shared_data / "spotify-history-efrrowini"
    names = ["Streaming_History_Audio_2022.json", "Streaming_History_Video_2023.json"]
    with _browser() as browser:
        tab = Pages(browser, stack.web_url, folder)
        page = tab.page
        _sign_in(tab, key)
        expect(page).to_have_url(re.compile(r"/now$"))
        page.goto("/import")
        page.evaluate(DROP_FILES, ["Streaming_History_Audio_2024.json", "my_spotify_data.zip"])
        chosen = page.locator("#chosen")
        expect(chosen).to_have_text("Streaming_History_Audio_2024.json, my_spotify_data.zip")
        exported = "Spotify Extended Streaming History"
        page.evaluate(DROP_FOLDER, [exported, [[n, (history / n).read_text()] for n in names]])
        expect(chosen).to_have_text(", ".join(f"{exported}/{name}" for name in names))
        tab.shot("import-dropped")
        page.get_by_role("button", name="Upload").click()
        expect(page).to_have_url(re.compile(r"/import/[0-9a-f-]+$"))
        expect(page.locator("#import-message")).to_contain_text("new", timeout=3 * MINUTE)
        assert page.eval_on_selector("#import-progress", "bar => bar.value") == 100
        report = page.locator("#import-report tbody tr")
        expect(report).to_have_count(len(names))  # the hidden file was left out
        for name in names:
            expect(page.locator("#import-report")).to_contain_text(name)
        tab.shot("import-dropped-done")
        assert tab.dialogs == []
