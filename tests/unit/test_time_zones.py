"""The listener's time zone: theirs if set, else the country they listen from most."""

from __future__ import annotations

import pytest

from services.features.domain.time_zones import (
    SOURCE_COUNTRY,
    SOURCE_DEFAULT,
    SOURCE_SET,
    choose_time_zone,
    valid_time_zone,
    zone_of_country,
)


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("GB", "Europe/London"),
        ("PK", "Asia/Karachi"),
        ("in", "Asia/Kolkata"),  # Spotify writes upper case; a lower-case code is the same
        ("US", "America/New_York"),
        ("BR", "America/Sao_Paulo"),  # zone.tab lists Noronha first: few live there
        ("RU", "Europe/Moscow"),
        ("AU", "Australia/Sydney"),
        ("CA", "America/Toronto"),
    ],
)
def test_a_country_maps_to_the_zone_most_of_its_listeners_live_in(country: str, zone: str) -> None:
    assert zone_of_country(country) == zone


@pytest.mark.parametrize("country", ["ZZ", "", "AQ", "XX"])
def test_a_country_without_a_zone_maps_to_none(country: str) -> None:
    assert zone_of_country(country) is None


def test_the_zone_the_listener_set_wins_over_where_they_listen() -> None:
    zone = choose_time_zone("America/Sao_Paulo", {"PK": 20_000})
    assert (zone.time_zone, zone.source) == ("America/Sao_Paulo", SOURCE_SET)
    assert "set by you" in zone.describe()


def test_without_a_setting_the_most_played_country_decides() -> None:
    zone = choose_time_zone(None, {"PK": 20_840, "FR": 900, "US": 150})
    assert (zone.time_zone, zone.source, zone.country) == ("Asia/Karachi", SOURCE_COUNTRY, "PK")
    assert zone.country_share == pytest.approx(20_840 / 21_890)
    assert "PK, 95% of your plays" in zone.describe()


def test_unknown_countries_do_not_decide_but_count_in_the_share() -> None:
    zone = choose_time_zone(None, {"ZZ": 900, "ES": 100})
    assert (zone.time_zone, zone.country, zone.country_share) == ("Europe/Madrid", "ES", 0.1)


def test_a_tie_goes_to_the_first_country_alphabetically() -> None:
    assert choose_time_zone(None, {"NL": 5, "FR": 5}).country == "FR"
    assert choose_time_zone(None, {"FR": 5, "NL": 5}).country == "FR"


def test_no_setting_and_no_country_is_utc_and_says_so() -> None:
    zone = choose_time_zone(None, {})
    assert (zone.time_zone, zone.source) == ("UTC", SOURCE_DEFAULT)
    assert "name no country" in zone.describe()


@pytest.mark.parametrize(
    "name", ["Asia/Kolkata", " Europe/London ", "UTC", "America/Argentina/Salta"]
)
def test_iana_zones_are_valid(name: str) -> None:
    assert valid_time_zone(name) == name.strip()


@pytest.mark.parametrize(
    "name", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "Europe/", "CEST+2", "\x00"]
)
def test_anything_else_is_refused_with_what_to_pass(name: str) -> None:
    with pytest.raises(
        ValueError, match="not a time zone; pass an IANA name such as Europe/London"
    ):
        valid_time_zone(name)
