"""A local Last.fm-compatible web service (catalog + HTTP server) for offline runs and tests.

Enrich talks to it through the same pylast code path it uses against ws.audioscrobbler.com.
"""

from services.enrich.lastfm_local.catalog import (
    Catalog,
    CatalogArtist,
    CatalogTrack,
    catalog_from_hetrec,
    load_catalog_json,
)
from services.enrich.lastfm_local.server import FaultPlan, LocalLastfmServer, start_lastfm_server

__all__ = [
    "Catalog",
    "CatalogArtist",
    "CatalogTrack",
    "FaultPlan",
    "LocalLastfmServer",
    "catalog_from_hetrec",
    "load_catalog_json",
    "start_lastfm_server",
]
