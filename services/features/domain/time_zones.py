"""The listener's time zone, in which their contexts and dayparts are read: the zone they set,
else the zone of the country they listen from most (Spotify's `conn_country` of each play),
else UTC.

A country's zone is the one tz database's `zone.tab` lists first for it, which for most
countries with several zones is the zone of its biggest city; where it is not (Brazil's first
is Noronha, Russia's Kaliningrad), `MOST_LISTENERS` names the zone most of the country lives
in. A listener in another zone of a wide country sets theirs (`fullcircle user set`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIME_ZONE = "UTC"

# Countries whose first zone in zone.tab is not where most of their people live.
MOST_LISTENERS = {
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "UZ": "Asia/Tashkent",
}
# No country to speak of: Antarctica's stations keep their suppliers' zones.
NO_ZONE = frozenset({"AQ"})

SOURCE_SET = "set"
SOURCE_COUNTRY = "country"
SOURCE_DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    """The zone a profile is computed in, and why: set by the listener, the country they
    listen from most (`country`, with that country's share of their plays), or the default."""

    time_zone: str
    source: str
    country: str = ""
    country_share: float = 0.0

    def describe(self) -> str:
        """Words for the profile: where the zone came from."""
        if self.source == SOURCE_SET:
            return f"{self.time_zone}, set by you"
        if self.source == SOURCE_COUNTRY:
            return (
                f"{self.time_zone}, from where you listen most ({self.country}, "
                f"{self.country_share:.0%} of your plays); set yours with "
                "`fullcircle user set --time-zone`"
            )
        return (
            f"{self.time_zone}: your plays name no country; set yours with "
            "`fullcircle user set --time-zone`"
        )


def valid_time_zone(name: str) -> str:
    """`name` as an IANA zone, or ValueError saying what to pass."""
    cleaned = name.strip()
    try:
        if not cleaned or cleaned.startswith(("/", ".")) or ".." in cleaned:
            raise ZoneInfoNotFoundError(cleaned)
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{name[:64]!r} is not a time zone; pass an IANA name such as Europe/London, "
            "America/Sao_Paulo or Asia/Kolkata (or an empty one to infer it from your plays)"
        ) from None
    return cleaned


@cache
def _first_zones() -> dict[str, str]:
    table = (files("tzdata.zoneinfo") / "zone.tab").read_text(encoding="utf-8")
    zones: dict[str, str] = {}
    for line in table.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        country, _, zone = line.split("\t")[:3]
        zones.setdefault(country, zone)
    return zones


def zone_of_country(country: str) -> str | None:
    """The zone most listeners of `country` (ISO 3166 alpha-2) live in; None if unknown."""
    code = country.strip().upper()
    if code in NO_ZONE:
        return None
    return MOST_LISTENERS.get(code) or _first_zones().get(code)


def choose_time_zone(
    set_by_listener: str | None, plays_by_country: Mapping[str, int]
) -> ZoneChoice:
    """The listener's zone: theirs if set, else their most-played country's, else UTC."""
    if set_by_listener:
        return ZoneChoice(set_by_listener, SOURCE_SET)
    known = {
        country: plays
        for country, plays in plays_by_country.items()
        if plays > 0 and zone_of_country(country) is not None
    }
    if known:
        # most plays first; a tie goes to the first country in alphabetical order
        country = min(known, key=lambda code: (-known[code], code))
        share = known[country] / sum(plays_by_country.values())
        return ZoneChoice(
            zone_of_country(country) or DEFAULT_TIME_ZONE, SOURCE_COUNTRY, country, share
        )
    return ZoneChoice(DEFAULT_TIME_ZONE, SOURCE_DEFAULT)
