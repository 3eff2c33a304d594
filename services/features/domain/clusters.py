"""Taste clusters: the listener's artists grouped by co-listening (PPMI over session co-occurrence,
SVD-smoothed, cosine) blended with tag similarity when tags exist, then average-linkage
agglomerative clustering cut at a cosine distance (no fixed count).

Method. Listens (>= 30 s) are split into sessions at gaps of 30 minutes or more. Each artist's
listens in a session count as log(1 + n), and each session spreads one unit of co-listening over
its pairs, so a long shuffled session does not outweigh many focused ones. Positive PMI turns the
co-occurrence counts into "more together than chance"; a 32-dimension SVD of the core artists'
PPMI rows smooths it, and the cosine of those vectors is the co-listening similarity. When both
artists have tags it is averaged with the cosine of their tag vectors; without tags (offline, or
an artist Last.fm does not know) co-listening alone decides. Core artists (>= `min_listens`
listens) are clustered; the others join the cluster whose centroid they are most similar to, or
the "other" bucket when no cluster reaches the same similarity the cut demands, as do groups of
fewer than two core artists.

Names. A taste is named by the genre tags (enrich's tag kinds) its artists carry among their
five strongest tags: the genre on most of its listens, and a second when that covers 15% more.
Names are made true and few. An artist whose genres miss its taste's name moves to the largest
taste it does carry a name of (or to "other"). The artists of a genre-named taste that carry
no genre (the catalog does not know them, or knows only fan or descriptive tags) leave it
together: co-listening put them there, so they stay one group, a taste named by its artists
("Aditya N., Safwan Azeem & co."). Tastes of one name are one taste. While more than 12
tastes are needed to cover 90% of the listens, the smallest artist-named taste joins the
artist-named taste whose listen-weighted co-listening centroid is closest (their names say
least; genre-named tastes are what candidates found by tags, steering and the balance of a
set by taste lean on), and only with fewer than two artist-named tastes left does the smallest
taste join the genre-named taste its genres overlap most, or "other"; an artist-named taste
never joins a genre-named one. A last pass fixes the names, moves every artist that still
misses its taste's name, and merges artist-named tastes (or, with none left to merge, sends
the smallest taste to "other") until the 12 hold. So by construction every artist of a
genre-named taste carries one of its name tags, no two genre-named tastes share a name, and
artist-named ones are named by different artists.

Measured by `python -m tools.lab.tastes --shared ../shared/data` (HetRec tags; figures in its
docstring): purity of every genre-named taste 1.00 on the five shared histories and on a hard
listener made of all five (14,849 artists, 85% unknown to the catalog), where keeping the
untagged artists in place gave minima of 0.00 to 0.43; 0 duplicate or non-genre names; 7 to 12
tastes cover 90% of listens. On a catalog that knows few of a listener's artists most listens
then sit in artist-named tastes (sanabil: 88%; genre-named tastes hold 9-59% of the listens,
against the 10-61% whose artist carries a genre at all), which is what the tags can say.

Trend rule (listens in the `recent_days` before `as_of` against all listens up to `as_of`):
dormant = no listen in the recent window; rising = recent share >= 1.5 x all-time share;
fading = recent share <= all-time share / 1.5; steady otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.utils.extmath import randomized_svd

from services.features.domain.taste import DAY_S, MIN_LISTEN_MS, PlayColumns, tag_profile

Trend = Literal["rising", "steady", "fading", "dormant"]

SESSION_GAP_S = 30 * 60.0
MIN_CORE_LISTENS = 5
DISTANCE_THRESHOLD = 0.75  # average cosine similarity of 0.25 inside a cluster
RECENT_DAYS = 90.0
TAG_BLEND = 0.5  # weight of tag similarity when both artists have tags
EMBEDDING_DIM = 32
TREND_RATIO = 1.5
MIN_CORE_ARTISTS = 2
TOP_NAME_TAGS = 5  # an artist "carries" a tag that is among its five strongest
SECOND_NAME_GAIN = 0.15  # a second name tag must cover 15% more of the taste's tagged listens
MAX_TASTES = 12  # at most this many tastes cover COVERAGE_OF_MAX_TASTES of the listens
COVERAGE_OF_MAX_TASTES = 0.9
REGROUP_ROUNDS = 3

Carried = Sequence[Mapping[str, float]]  # per artist: the genre tags it carries, by weight
OTHER_CLUSTER_ID = 0
OTHER_CLUSTER_NAME = "Everything else"


@dataclass(frozen=True)
class TasteCluster:
    """One taste: its artists (most listened first), name, listening shares and trend.

    `cluster_id` is 1.. by all-time listens; the "other" bucket has id 0 and `is_other`.
    `tag_profile` is the cluster's tags (weights sum to 1), empty when its artists have none."""

    cluster_id: int
    name: str
    artists: tuple[str, ...]
    listens: int
    recent_listens: int
    all_time_share: float
    recent_share: float
    trend: Trend
    last_listen: datetime | None
    tag_profile: dict[str, float]
    is_other: bool = False
    name_tags: tuple[str, ...] = ()


def cluster_tastes(
    plays: PlayColumns,
    as_of: datetime,
    artist_tags: Mapping[str, Mapping[str, float]] | None = None,
    *,
    session_gap_s: float = SESSION_GAP_S,
    min_listens: int = MIN_CORE_LISTENS,
    distance_threshold: float = DISTANCE_THRESHOLD,
    recent_days: float = RECENT_DAYS,
    min_listen_ms: int = MIN_LISTEN_MS,
    genres: frozenset[str] | None = None,
    untagged_stay: bool = False,
) -> list[TasteCluster]:
    """The listener's tastes from their listens up to `as_of` (see the module docstring).

    Every artist with a listen belongs to exactly one returned cluster; the "other" bucket, when
    not empty, comes last. `artist_tags` maps artist -> tag -> weight (0-100, as Last.fm).
    `untagged_stay` is the naming before artists without genres left genre-named tastes (they
    stayed where co-listening put them); `tools.lab.tastes` runs it to print before/after."""
    as_of_s = as_of.timestamp()
    is_listen = (plays.ms_played >= min_listen_ms) & (plays.ended_at_s <= as_of_s)
    if not is_listen.any():
        return []
    ended = plays.ended_at_s[is_listen]
    order = np.argsort(ended, kind="stable")
    ended = ended[order]
    started = ended - plays.ms_played[is_listen][order] / 1000.0
    artists = np.asarray(plays.artist, dtype=object)[is_listen][order]
    names, artist_idx = np.unique(artists, return_inverse=True)
    listens = np.bincount(artist_idx, minlength=len(names))
    session = np.cumsum(np.r_[True, started[1:] - ended[:-1] >= session_gap_s]) - 1

    ppmi = _colistening_ppmi(artist_idx, session, len(names))
    core = np.flatnonzero(listens >= min_listens)
    labels = np.full(len(names), OTHER_CLUSTER_ID)
    tags = _tag_vectors(names, artist_tags or {})
    embedding = None
    if len(core) > 0:
        embedding = _embed(ppmi, core)
        similarity = _blend(embedding[core] @ embedding[core].T, tags, core, core)
        labels[core] = _agglomerate(similarity, distance_threshold)
        labels = _drop_small_groups(labels, core)
        labels = _attach_minor_artists(labels, embedding, tags, core, 1.0 - distance_threshold)
    carried = _carried_genres(names, artist_tags or {}, genres)
    labels, name_tags = _regroup_by_genre(
        labels, listens, carried, embedding, untagged_stay=untagged_stay
    )
    return _describe(
        names,
        artist_idx,
        ended,
        labels,
        as_of_s,
        recent_days * DAY_S,
        artist_tags or {},
        name_tags,
    )


def artist_clusters(clusters: Sequence[TasteCluster]) -> dict[str, int]:
    """Artist -> cluster id, for attributing plays to tastes."""
    return {artist: cluster.cluster_id for cluster in clusters for artist in cluster.artists}


def _colistening_ppmi(artist_idx: np.ndarray, session: np.ndarray, n: int) -> sparse.csr_matrix:
    """Artist x artist positive PMI of session co-listening, each session spreading unit mass."""
    by_session = sparse.csr_matrix(
        (np.ones(len(artist_idx)), (artist_idx, session)), shape=(n, int(session[-1]) + 1)
    )
    by_session.sum_duplicates()
    by_session.data = np.log1p(by_session.data)
    session_mass = np.asarray(by_session.sum(axis=0)).ravel()
    together = (by_session @ sparse.diags(1.0 / session_mass) @ by_session.T).tocoo()
    off_diagonal = together.row != together.col
    rows, cols = together.row[off_diagonal], together.col[off_diagonal]
    counts = together.data[off_diagonal]
    marginal = np.bincount(rows, weights=counts, minlength=n)
    total = counts.sum()
    if total <= 0:
        return sparse.csr_matrix((n, n))
    pmi = np.log(counts * total / (marginal[rows] * marginal[cols]))
    positive = pmi > 0
    return sparse.csr_matrix((pmi[positive], (rows[positive], cols[positive])), shape=(n, n))


def _embed(ppmi: sparse.csr_matrix, core: np.ndarray) -> np.ndarray:
    """Unit vectors for every artist in the SVD space of the core artists' PPMI rows."""
    on_core = ppmi[:, core]
    dim = min(EMBEDDING_DIM, len(core) - 1)
    if dim < 1:
        vectors = on_core.toarray()
    else:
        _, strengths, basis = randomized_svd(on_core[core], dim, random_state=0)
        keep = strengths > 1e-9
        vectors = on_core @ basis[keep].T / np.sqrt(strengths[keep])
    return _unit_rows(np.asarray(vectors))


def _tag_vectors(
    names: np.ndarray, artist_tags: Mapping[str, Mapping[str, float]]
) -> np.ndarray | None:
    """Unit tag vectors per artist (zero rows for untagged), or None when nobody has tags."""
    vocabulary: dict[str, int] = {}
    rows, cols, weights = [], [], []
    for i, name in enumerate(names):
        for tag, weight in artist_tags.get(str(name), {}).items():
            if weight > 0:
                rows.append(i)
                cols.append(vocabulary.setdefault(tag, len(vocabulary)))
                weights.append(float(weight))
    if not vocabulary:
        return None
    matrix = sparse.csr_matrix((weights, (rows, cols)), shape=(len(names), len(vocabulary)))
    return _unit_rows(matrix.toarray())


def _blend(
    colistening: np.ndarray, tags: np.ndarray | None, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    if tags is None:
        return colistening
    tag_similarity = tags[rows] @ tags[cols].T
    both_tagged = np.outer(tags[rows].any(axis=1), tags[cols].any(axis=1))
    blended = (1.0 - TAG_BLEND) * colistening + TAG_BLEND * tag_similarity
    return np.where(both_tagged, blended, colistening)


def _agglomerate(similarity: np.ndarray, distance_threshold: float) -> np.ndarray:
    """Cluster labels 1.. from average linkage on cosine distance, cut at the threshold."""
    if len(similarity) == 1:
        return np.ones(1, dtype=np.int64)
    distance = np.clip(1.0 - similarity, 0.0, 2.0)
    distance = (distance + distance.T) / 2.0
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return fcluster(tree, distance_threshold, criterion="distance").astype(np.int64)


def _drop_small_groups(labels: np.ndarray, core: np.ndarray) -> np.ndarray:
    ids, sizes = np.unique(labels[core], return_counts=True)
    small = ids[sizes < MIN_CORE_ARTISTS]
    return np.where(np.isin(labels, small), OTHER_CLUSTER_ID, labels)


def _attach_minor_artists(
    labels: np.ndarray,
    embedding: np.ndarray,
    tags: np.ndarray | None,
    core: np.ndarray,
    min_similarity: float,
) -> np.ndarray:
    """Artists below the listen threshold join their most similar cluster centroid, if close."""
    ids = np.unique(labels[core])
    ids = ids[ids != OTHER_CLUSTER_ID]
    minor = np.setdiff1d(np.arange(len(labels)), core)
    if len(ids) == 0 or len(minor) == 0:
        return labels
    centroids = _unit_rows(np.stack([embedding[core[labels[core] == i]].mean(axis=0) for i in ids]))
    similarity = embedding[minor] @ centroids.T
    if tags is not None:
        tag_centroids = _unit_rows(
            np.stack([tags[core[labels[core] == i]].mean(axis=0) for i in ids])
        )
        tagged = np.outer(tags[minor].any(axis=1), tag_centroids.any(axis=1))
        blended = (1.0 - TAG_BLEND) * similarity + TAG_BLEND * (tags[minor] @ tag_centroids.T)
        similarity = np.where(tagged, blended, similarity)
    best = similarity.argmax(axis=1)
    close = similarity[np.arange(len(minor)), best] >= min_similarity
    attached = labels.copy()
    attached[minor] = np.where(close, ids[best], OTHER_CLUSTER_ID)
    return attached


def _describe(
    names: np.ndarray,
    artist_idx: np.ndarray,
    ended: np.ndarray,
    labels: np.ndarray,
    as_of_s: float,
    recent_s: float,
    artist_tags: Mapping[str, Mapping[str, float]],
    name_tags: Mapping[int, tuple[str, ...]],
) -> list[TasteCluster]:
    listens = np.bincount(artist_idx, minlength=len(names))
    play_label = labels[artist_idx]
    recent = ended > as_of_s - recent_s
    ids = np.unique(labels)
    totals = np.array([listens[labels == i].sum() for i in ids])
    # Real tastes numbered 1.. by all-time listens; "other" keeps id 0 and goes last.
    ranked = [i for _, i in sorted(zip(-totals, ids, strict=True)) if i != OTHER_CLUSTER_ID]
    renumber = {old: new for new, old in enumerate(ranked, start=1)}
    total_listens, total_recent = len(ended), int(recent.sum())
    clusters = []
    for old in [*ranked, *([OTHER_CLUSTER_ID] if OTHER_CLUSTER_ID in ids else [])]:
        members = np.flatnonzero(labels == old)
        members = members[np.lexsort((names[members], -listens[members]))]
        artists = tuple(str(names[i]) for i in members)
        in_cluster = play_label == old
        count, recent_count = int(in_cluster.sum()), int((in_cluster & recent).sum())
        all_time_share = count / total_listens
        recent_share = recent_count / total_recent if total_recent else 0.0
        profile = tag_profile(
            {a: float(listens[i]) for a, i in zip(artists, members, strict=True)},
            artist_tags,
            top_n=10,
        )
        is_other = old == OTHER_CLUSTER_ID
        clusters.append(
            TasteCluster(
                cluster_id=renumber.get(old, OTHER_CLUSTER_ID),
                name=OTHER_CLUSTER_NAME
                if is_other
                else _cluster_name(artists, name_tags.get(old, ())),
                artists=artists,
                listens=count,
                recent_listens=recent_count,
                all_time_share=all_time_share,
                recent_share=recent_share,
                trend=_trend(all_time_share, recent_share, recent_count),
                last_listen=datetime.fromtimestamp(float(ended[in_cluster].max()), tz=UTC),
                tag_profile=profile,
                is_other=is_other,
                name_tags=() if is_other else name_tags.get(old, ()),
            )
        )
    return clusters


def _cluster_name(artists: tuple[str, ...], name_tags: tuple[str, ...]) -> str:
    """Its genre tags when its artists carry some, else its top artists ("A, B & co.")."""
    if name_tags:
        return " & ".join(name_tags)
    if len(artists) == 1:
        return artists[0]
    if len(artists) == 2:
        return f"{artists[0]} & {artists[1]}"
    return f"{artists[0]}, {artists[1]} & co."


def _carried_genres(
    names: np.ndarray,
    artist_tags: Mapping[str, Mapping[str, float]],
    genres: frozenset[str] | None,
) -> list[dict[str, float]]:
    """Per artist, the genre tags among its `TOP_NAME_TAGS` strongest, with their weights
    (every tag counts as a genre when `genres` is None: no kinds known)."""
    carried = []
    for name in names:
        weights = artist_tags.get(str(name), {})
        top = sorted(weights.items(), key=lambda item: (-item[1], item[0]))[:TOP_NAME_TAGS]
        carried.append({tag: w for tag, w in top if w > 0 and (genres is None or tag in genres)})
    return carried


def _regroup_by_genre(
    labels: np.ndarray,
    listens: np.ndarray,
    carried: Carried,
    embedding: np.ndarray | None,
    *,
    untagged_stay: bool = False,
) -> tuple[np.ndarray, dict[int, tuple[str, ...]]]:
    """Name each taste by the genres its artists carry, and make the names true and few.

    A taste's name is the genre carried by most of its tagged listens, and a second one when
    it covers at least `SECOND_NAME_GAIN` more of them. An artist that carries genres but none
    of its taste's names moves to the largest taste named by one it carries, or to "other"; the
    artists of a genre-named taste that carry no genre leave it together, as a taste named by
    its artists; tastes with the same name are one taste; then, while more than `MAX_TASTES`
    tastes are needed to cover `COVERAGE_OF_MAX_TASTES` of the listens, tastes merge
    (`_merge_smallest`). A last pass fixes the names and moves every artist that does not carry
    its taste's name once more, so each name is true. `untagged_stay` keeps the untagged
    artists where co-listening put them and merges by genres alone (the behaviour before,
    measured by `tools.lab.tastes`)."""
    for _ in range(REGROUP_ROUNDS):
        names = _genre_names(labels, listens, carried)
        labels = _move_misnamed(labels, listens, carried, names, untagged_stay)
        labels = _merge_same_names(labels, listens, _genre_names(labels, listens, carried))
        labels = _merge_smallest(labels, listens, carried, None if untagged_stay else embedding)
    names = _genre_names(labels, listens, carried)
    if untagged_stay:
        return labels, names
    labels = _merge_same_names(labels, listens, names)
    names = {taste: tags for taste, tags in names.items() if (labels == taste).any()}
    labels = _move_misnamed(labels, listens, carried, names, untagged_stay)
    return _merge_smallest(labels, listens, carried, embedding, merge_genres=False), names


def _genre_names(
    labels: np.ndarray, listens: np.ndarray, carried: Carried
) -> dict[int, tuple[str, ...]]:
    names: dict[int, tuple[str, ...]] = {}
    for taste in np.unique(labels):
        if taste == OTHER_CLUSTER_ID:
            continue
        members = [int(i) for i in np.flatnonzero(labels == taste) if carried[int(i)]]
        tagged = float(sum(listens[i] for i in members))
        if not tagged:
            continue
        chosen: list[str] = []
        covered: set[int] = set()
        for _ in range(2):
            gains: dict[str, float] = {}
            strength: dict[str, float] = {}
            for i in members:
                for tag, weight in carried[i].items():
                    if tag in chosen:
                        continue
                    strength[tag] = strength.get(tag, 0.0) + weight * float(listens[i])
                    if i not in covered:
                        gains[tag] = gains.get(tag, 0.0) + float(listens[i])
            if not gains:
                break
            # most listens covered; a tie goes to the tag the artists are tagged with more
            tag = min(gains, key=lambda t: (-gains[t], -strength[t], t))
            if chosen and gains[tag] < SECOND_NAME_GAIN * tagged:
                break
            chosen.append(tag)
            covered.update(i for i in members if tag in carried[i])
        names[int(taste)] = tuple(chosen)
    return names


def _move_misnamed(
    labels: np.ndarray,
    listens: np.ndarray,
    carried: Carried,
    names: Mapping[int, tuple[str, ...]],
    untagged_stay: bool,
) -> np.ndarray:
    """Artists whose genres miss their taste's name to the largest taste named by one of them
    (or "other"); the genre-less artists of each genre-named taste to a taste of their own."""
    sizes = {taste: int(listens[labels == taste].sum()) for taste in names}
    moved = labels.copy()
    leftovers: dict[int, int] = {}  # genre-named taste -> the taste its genre-less artists form
    for i, genres in enumerate(carried):
        taste = int(labels[i])
        if taste in names and not genres and not untagged_stay:
            moved[i] = leftovers.setdefault(taste, int(labels.max()) + 1 + len(leftovers))
            continue
        if not genres or (taste in names and genres.keys() & set(names[taste])):
            continue
        homes = [t for t, tags in names.items() if genres.keys() & set(tags)]
        moved[i] = max(homes, key=lambda t: (sizes[t], -t)) if homes else OTHER_CLUSTER_ID
    return moved


def _merge_same_names(
    labels: np.ndarray, listens: np.ndarray, names: Mapping[int, tuple[str, ...]]
) -> np.ndarray:
    by_name: dict[frozenset[str], list[int]] = {}
    for taste, tags in names.items():
        by_name.setdefault(frozenset(tags), []).append(taste)
    merged = labels.copy()
    for tastes in by_name.values():
        keep = max(tastes, key=lambda t: (int(listens[labels == t].sum()), -t))
        merged[np.isin(labels, tastes)] = keep
    return merged


def _merge_smallest(
    labels: np.ndarray,
    listens: np.ndarray,
    carried: Carried,
    embedding: np.ndarray | None,
    *,
    merge_genres: bool = True,
) -> np.ndarray:
    """While too many tastes cover most listens: with `embedding` and two artist-named tastes
    left, the smallest of those joins the artist-named taste closest in co-listening (their
    names say least, and genre-named tastes are what recommendations are balanced by);
    otherwise the smallest taste joins the taste its genres overlap most (with `merge_genres`;
    the names are made again after), or "other"."""
    labels = labels.copy()
    while (smallest := _smallest_of_too_many(labels, listens)) is not None:
        sizes = {int(t): int(listens[labels == t].sum()) for t in np.unique(labels)}
        artist_named = (
            [t for t in sizes if t != OTHER_CLUSTER_ID and not _has_genres(labels == t, carried)]
            if embedding is not None
            else []
        )
        if embedding is not None and len(artist_named) >= 2:
            merging = min(artist_named, key=lambda t: (sizes[t], -t))
            labels[labels == merging] = _closest_by_colistening(
                labels, listens, embedding, merging, [t for t in artist_named if t != merging]
            )
            continue
        others = [t for t in sizes if t not in (smallest, OTHER_CLUSTER_ID)] if merge_genres else []
        profile = _genre_weights(labels == smallest, listens, carried)
        overlap = {
            t: sum(
                min(weight, _genre_weights(labels == t, listens, carried).get(tag, 0.0))
                for tag, weight in profile.items()
            )
            for t in others
        }
        best = max(overlap, key=lambda t: (overlap[t], sizes[t], -t), default=None)
        labels[labels == smallest] = (
            best if best is not None and overlap[best] > 0 else OTHER_CLUSTER_ID
        )
    return labels


def _smallest_of_too_many(labels: np.ndarray, listens: np.ndarray) -> int | None:
    """The smallest real taste while more than `MAX_TASTES` tastes ("other" counting as one)
    are needed to cover `COVERAGE_OF_MAX_TASTES` of the listens; None when few enough."""
    sizes = {int(t): int(listens[labels == t].sum()) for t in np.unique(labels)}
    ranked = sorted(sizes, key=lambda t: (-sizes[t], t))
    shares = np.cumsum([sizes[t] for t in ranked]) / float(listens.sum() or 1)
    named = [t for t in ranked if t != OTHER_CLUSTER_ID]
    if len(ranked) <= MAX_TASTES or shares[MAX_TASTES - 1] >= COVERAGE_OF_MAX_TASTES:
        return None
    return named[-1]


def _closest_by_colistening(
    labels: np.ndarray,
    listens: np.ndarray,
    embedding: np.ndarray,
    taste: int,
    candidates: Sequence[int],
) -> int:
    """Of `candidates`, the taste whose listen-weighted co-listening centroid is closest to
    `taste`'s (ties to the larger), or "other" when there is none."""
    if not candidates:
        return OTHER_CLUSTER_ID

    def centroid(t: int) -> np.ndarray:
        members = labels == t
        return _unit_rows((listens[members] @ embedding[members])[None, :])[0]

    own = centroid(taste)
    closeness = {t: float(own @ centroid(t)) for t in candidates}
    sizes = {t: int(listens[labels == t].sum()) for t in candidates}
    return max(candidates, key=lambda t: (closeness[t], sizes[t], -t))


def _has_genres(members: np.ndarray, carried: Carried) -> bool:
    return any(carried[int(i)] for i in np.flatnonzero(members))


def _genre_weights(members: np.ndarray, listens: np.ndarray, carried: Carried) -> dict[str, float]:
    """Share of the members' tagged listens carrying each genre."""
    weights: dict[str, float] = {}
    total = 0.0
    for i in map(int, np.flatnonzero(members)):
        if carried[i]:
            total += float(listens[i])
            for tag in carried[i]:
                weights[tag] = weights.get(tag, 0.0) + float(listens[i])
    return {tag: weight / total for tag, weight in weights.items()} if total else {}


def _trend(all_time_share: float, recent_share: float, recent_listens: int) -> Trend:
    if recent_listens == 0:
        return "dormant"
    if recent_share >= TREND_RATIO * all_time_share:
        return "rising"
    if recent_share <= all_time_share / TREND_RATIO:
        return "fading"
    return "steady"


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix, dtype=float), where=norms > 0)
