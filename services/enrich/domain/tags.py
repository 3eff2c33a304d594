"""One canonical spelling per tag so "Hip-Hop", "hip hop" and "hiphop" meet."""

from __future__ import annotations

import re

_SPACES = re.compile(r"[\s_\-]+")


def canonical_tag(tag: str) -> str:
    """Lower case, single spaces; hyphens and underscores become spaces."""
    return _SPACES.sub(" ", tag.strip().lower()).strip()
