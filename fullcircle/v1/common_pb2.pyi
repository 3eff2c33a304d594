from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecommendationMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECOMMENDATION_MODE_UNSPECIFIED: _ClassVar[RecommendationMode]
    RECOMMENDATION_MODE_DISCOVERY: _ClassVar[RecommendationMode]
    RECOMMENDATION_MODE_REDISCOVERY: _ClassVar[RecommendationMode]

class FeedbackKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_KIND_UNSPECIFIED: _ClassVar[FeedbackKind]
    FEEDBACK_KIND_LIKE: _ClassVar[FeedbackKind]
    FEEDBACK_KIND_DISLIKE: _ClassVar[FeedbackKind]
    FEEDBACK_KIND_DO_NOT_RECOMMEND: _ClassVar[FeedbackKind]
RECOMMENDATION_MODE_UNSPECIFIED: RecommendationMode
RECOMMENDATION_MODE_DISCOVERY: RecommendationMode
RECOMMENDATION_MODE_REDISCOVERY: RecommendationMode
FEEDBACK_KIND_UNSPECIFIED: FeedbackKind
FEEDBACK_KIND_LIKE: FeedbackKind
FEEDBACK_KIND_DISLIKE: FeedbackKind
FEEDBACK_KIND_DO_NOT_RECOMMEND: FeedbackKind

class ExplanationPart(_message.Message):
    __slots__ = ("label", "kind", "share", "percent")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    label: str
    kind: str
    share: float
    percent: int
    def __init__(self, label: _Optional[str] = ..., kind: _Optional[str] = ..., share: _Optional[float] = ..., percent: _Optional[int] = ...) -> None: ...

class Recommendation(_message.Message):
    __slots__ = ("artist", "score", "mode", "because", "parts", "similar_to", "top_tags", "taste", "tracks", "popularity_percentile")
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    BECAUSE_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    SIMILAR_TO_FIELD_NUMBER: _ClassVar[int]
    TOP_TAGS_FIELD_NUMBER: _ClassVar[int]
    TASTE_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    POPULARITY_PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    artist: str
    score: float
    mode: RecommendationMode
    because: str
    parts: _containers.RepeatedCompositeFieldContainer[ExplanationPart]
    similar_to: _containers.RepeatedScalarFieldContainer[str]
    top_tags: _containers.RepeatedScalarFieldContainer[str]
    taste: str
    tracks: _containers.RepeatedCompositeFieldContainer[RecommendedTrack]
    popularity_percentile: float
    def __init__(self, artist: _Optional[str] = ..., score: _Optional[float] = ..., mode: _Optional[_Union[RecommendationMode, str]] = ..., because: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[ExplanationPart, _Mapping]]] = ..., similar_to: _Optional[_Iterable[str]] = ..., top_tags: _Optional[_Iterable[str]] = ..., taste: _Optional[str] = ..., tracks: _Optional[_Iterable[_Union[RecommendedTrack, _Mapping]]] = ..., popularity_percentile: _Optional[float] = ...) -> None: ...

class RecommendedTrack(_message.Message):
    __slots__ = ("name", "track_uri", "source")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRACK_URI_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    track_uri: str
    source: str
    def __init__(self, name: _Optional[str] = ..., track_uri: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class RecommendationSet(_message.Message):
    __slots__ = ("set_id", "model_version", "created_at", "items")
    SET_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    set_id: str
    model_version: str
    created_at: str
    items: _containers.RepeatedCompositeFieldContainer[Recommendation]
    def __init__(self, set_id: _Optional[str] = ..., model_version: _Optional[str] = ..., created_at: _Optional[str] = ..., items: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ...) -> None: ...

class TagWeight(_message.Message):
    __slots__ = ("tag", "weight")
    TAG_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    tag: str
    weight: float
    def __init__(self, tag: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class ArtistWeight(_message.Message):
    __slots__ = ("artist", "weight", "listens")
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    LISTENS_FIELD_NUMBER: _ClassVar[int]
    artist: str
    weight: float
    listens: int
    def __init__(self, artist: _Optional[str] = ..., weight: _Optional[float] = ..., listens: _Optional[int] = ...) -> None: ...

class TasteCluster(_message.Message):
    __slots__ = ("cluster_id", "name", "artists", "size", "all_time_share", "recent_share", "trend", "top_tags")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARTISTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ALL_TIME_SHARE_FIELD_NUMBER: _ClassVar[int]
    RECENT_SHARE_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    TOP_TAGS_FIELD_NUMBER: _ClassVar[int]
    cluster_id: int
    name: str
    artists: _containers.RepeatedScalarFieldContainer[str]
    size: int
    all_time_share: float
    recent_share: float
    trend: str
    top_tags: _containers.RepeatedCompositeFieldContainer[TagWeight]
    def __init__(self, cluster_id: _Optional[int] = ..., name: _Optional[str] = ..., artists: _Optional[_Iterable[str]] = ..., size: _Optional[int] = ..., all_time_share: _Optional[float] = ..., recent_share: _Optional[float] = ..., trend: _Optional[str] = ..., top_tags: _Optional[_Iterable[_Union[TagWeight, _Mapping]]] = ...) -> None: ...

class ContextProfile(_message.Message):
    __slots__ = ("kind", "context", "listens", "cluster_shares", "top_artists", "mood_coverage", "energy", "valence", "acoustic", "energy_shares", "valence_shares")
    class ClusterSharesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: float
        def __init__(self, key: _Optional[int] = ..., value: _Optional[float] = ...) -> None: ...
    class EnergySharesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ValenceSharesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    LISTENS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SHARES_FIELD_NUMBER: _ClassVar[int]
    TOP_ARTISTS_FIELD_NUMBER: _ClassVar[int]
    MOOD_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    ENERGY_FIELD_NUMBER: _ClassVar[int]
    VALENCE_FIELD_NUMBER: _ClassVar[int]
    ACOUSTIC_FIELD_NUMBER: _ClassVar[int]
    ENERGY_SHARES_FIELD_NUMBER: _ClassVar[int]
    VALENCE_SHARES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    context: str
    listens: int
    cluster_shares: _containers.ScalarMap[int, float]
    top_artists: _containers.RepeatedScalarFieldContainer[str]
    mood_coverage: float
    energy: float
    valence: float
    acoustic: float
    energy_shares: _containers.ScalarMap[str, float]
    valence_shares: _containers.ScalarMap[str, float]
    def __init__(self, kind: _Optional[str] = ..., context: _Optional[str] = ..., listens: _Optional[int] = ..., cluster_shares: _Optional[_Mapping[int, float]] = ..., top_artists: _Optional[_Iterable[str]] = ..., mood_coverage: _Optional[float] = ..., energy: _Optional[float] = ..., valence: _Optional[float] = ..., acoustic: _Optional[float] = ..., energy_shares: _Optional[_Mapping[str, float]] = ..., valence_shares: _Optional[_Mapping[str, float]] = ...) -> None: ...

class MonthlyTaste(_message.Message):
    __slots__ = ("month", "listens", "cluster_shares", "top_artists")
    class ClusterSharesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: float
        def __init__(self, key: _Optional[int] = ..., value: _Optional[float] = ...) -> None: ...
    MONTH_FIELD_NUMBER: _ClassVar[int]
    LISTENS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SHARES_FIELD_NUMBER: _ClassVar[int]
    TOP_ARTISTS_FIELD_NUMBER: _ClassVar[int]
    month: str
    listens: int
    cluster_shares: _containers.ScalarMap[int, float]
    top_artists: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, month: _Optional[str] = ..., listens: _Optional[int] = ..., cluster_shares: _Optional[_Mapping[int, float]] = ..., top_artists: _Optional[_Iterable[str]] = ...) -> None: ...

class TasteProfile(_message.Message):
    __slots__ = ("plays", "listens", "artists", "top_artists", "top_tags", "computed_at", "half_life_days", "clusters", "contexts", "evolution", "time_zone", "mood_coverage", "recency", "recency_fitted", "clock", "years")
    PLAYS_FIELD_NUMBER: _ClassVar[int]
    LISTENS_FIELD_NUMBER: _ClassVar[int]
    ARTISTS_FIELD_NUMBER: _ClassVar[int]
    TOP_ARTISTS_FIELD_NUMBER: _ClassVar[int]
    TOP_TAGS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_FIELD_NUMBER: _ClassVar[int]
    HALF_LIFE_DAYS_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    CONTEXTS_FIELD_NUMBER: _ClassVar[int]
    EVOLUTION_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    MOOD_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    RECENCY_FIELD_NUMBER: _ClassVar[int]
    RECENCY_FITTED_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    YEARS_FIELD_NUMBER: _ClassVar[int]
    plays: int
    listens: int
    artists: int
    top_artists: _containers.RepeatedCompositeFieldContainer[ArtistWeight]
    top_tags: _containers.RepeatedCompositeFieldContainer[TagWeight]
    computed_at: str
    half_life_days: float
    clusters: _containers.RepeatedCompositeFieldContainer[TasteCluster]
    contexts: _containers.RepeatedCompositeFieldContainer[ContextProfile]
    evolution: _containers.RepeatedCompositeFieldContainer[MonthlyTaste]
    time_zone: TimeZone
    mood_coverage: MoodCoverage
    recency: str
    recency_fitted: bool
    clock: _containers.RepeatedCompositeFieldContainer[ClockHour]
    years: _containers.RepeatedCompositeFieldContainer[YearTops]
    def __init__(self, plays: _Optional[int] = ..., listens: _Optional[int] = ..., artists: _Optional[int] = ..., top_artists: _Optional[_Iterable[_Union[ArtistWeight, _Mapping]]] = ..., top_tags: _Optional[_Iterable[_Union[TagWeight, _Mapping]]] = ..., computed_at: _Optional[str] = ..., half_life_days: _Optional[float] = ..., clusters: _Optional[_Iterable[_Union[TasteCluster, _Mapping]]] = ..., contexts: _Optional[_Iterable[_Union[ContextProfile, _Mapping]]] = ..., evolution: _Optional[_Iterable[_Union[MonthlyTaste, _Mapping]]] = ..., time_zone: _Optional[_Union[TimeZone, _Mapping]] = ..., mood_coverage: _Optional[_Union[MoodCoverage, _Mapping]] = ..., recency: _Optional[str] = ..., recency_fitted: _Optional[bool] = ..., clock: _Optional[_Iterable[_Union[ClockHour, _Mapping]]] = ..., years: _Optional[_Iterable[_Union[YearTops, _Mapping]]] = ...) -> None: ...

class MoodCoverage(_message.Message):
    __slots__ = ("listens", "before", "after")
    LISTENS_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    listens: int
    before: float
    after: float
    def __init__(self, listens: _Optional[int] = ..., before: _Optional[float] = ..., after: _Optional[float] = ...) -> None: ...

class TimeZone(_message.Message):
    __slots__ = ("time_zone", "source", "country", "country_share", "description")
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_SHARE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    time_zone: str
    source: str
    country: str
    country_share: float
    description: str
    def __init__(self, time_zone: _Optional[str] = ..., source: _Optional[str] = ..., country: _Optional[str] = ..., country_share: _Optional[float] = ..., description: _Optional[str] = ...) -> None: ...

class PlaylistTrack(_message.Message):
    __slots__ = ("artist", "track", "track_uri", "familiar", "score", "reason", "source", "mbid")
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    TRACK_URI_FIELD_NUMBER: _ClassVar[int]
    FAMILIAR_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MBID_FIELD_NUMBER: _ClassVar[int]
    artist: str
    track: str
    track_uri: str
    familiar: bool
    score: float
    reason: str
    source: str
    mbid: str
    def __init__(self, artist: _Optional[str] = ..., track: _Optional[str] = ..., track_uri: _Optional[str] = ..., familiar: _Optional[bool] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., source: _Optional[str] = ..., mbid: _Optional[str] = ...) -> None: ...

class Playlist(_message.Message):
    __slots__ = ("prompt", "energy", "valence", "acoustic", "hour_band", "familiarity", "tracks", "mood_confidence", "left_out", "left_out_note")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    ENERGY_FIELD_NUMBER: _ClassVar[int]
    VALENCE_FIELD_NUMBER: _ClassVar[int]
    ACOUSTIC_FIELD_NUMBER: _ClassVar[int]
    HOUR_BAND_FIELD_NUMBER: _ClassVar[int]
    FAMILIARITY_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    MOOD_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LEFT_OUT_FIELD_NUMBER: _ClassVar[int]
    LEFT_OUT_NOTE_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    energy: float
    valence: float
    acoustic: float
    hour_band: str
    familiarity: str
    tracks: _containers.RepeatedCompositeFieldContainer[PlaylistTrack]
    mood_confidence: float
    left_out: _containers.RepeatedScalarFieldContainer[str]
    left_out_note: str
    def __init__(self, prompt: _Optional[str] = ..., energy: _Optional[float] = ..., valence: _Optional[float] = ..., acoustic: _Optional[float] = ..., hour_band: _Optional[str] = ..., familiarity: _Optional[str] = ..., tracks: _Optional[_Iterable[_Union[PlaylistTrack, _Mapping]]] = ..., mood_confidence: _Optional[float] = ..., left_out: _Optional[_Iterable[str]] = ..., left_out_note: _Optional[str] = ...) -> None: ...

class ExclusionRule(_message.Message):
    __slots__ = ("artist", "track", "played_between", "platform", "hours")
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    PLAYED_BETWEEN_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    artist: str
    track: str
    played_between: str
    platform: str
    hours: str
    def __init__(self, artist: _Optional[str] = ..., track: _Optional[str] = ..., played_between: _Optional[str] = ..., platform: _Optional[str] = ..., hours: _Optional[str] = ...) -> None: ...

class TasteExclusion(_message.Message):
    __slots__ = ("exclusion_id", "description", "plays", "created_at", "rule")
    EXCLUSION_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PLAYS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    exclusion_id: str
    description: str
    plays: int
    created_at: str
    rule: ExclusionRule
    def __init__(self, exclusion_id: _Optional[str] = ..., description: _Optional[str] = ..., plays: _Optional[int] = ..., created_at: _Optional[str] = ..., rule: _Optional[_Union[ExclusionRule, _Mapping]] = ...) -> None: ...

class TasteExclusions(_message.Message):
    __slots__ = ("exclusions",)
    EXCLUSIONS_FIELD_NUMBER: _ClassVar[int]
    exclusions: _containers.RepeatedCompositeFieldContainer[TasteExclusion]
    def __init__(self, exclusions: _Optional[_Iterable[_Union[TasteExclusion, _Mapping]]] = ...) -> None: ...

class TasteSteer(_message.Message):
    __slots__ = ("taste", "way")
    TASTE_FIELD_NUMBER: _ClassVar[int]
    WAY_FIELD_NUMBER: _ClassVar[int]
    taste: str
    way: str
    def __init__(self, taste: _Optional[str] = ..., way: _Optional[str] = ...) -> None: ...

class SteeringChange(_message.Message):
    __slots__ = ("tastes", "familiarity")
    TASTES_FIELD_NUMBER: _ClassVar[int]
    FAMILIARITY_FIELD_NUMBER: _ClassVar[int]
    tastes: _containers.RepeatedCompositeFieldContainer[TasteSteer]
    familiarity: float
    def __init__(self, tastes: _Optional[_Iterable[_Union[TasteSteer, _Mapping]]] = ..., familiarity: _Optional[float] = ...) -> None: ...

class Steering(_message.Message):
    __slots__ = ("tastes", "familiarity_set", "familiarity", "description")
    class TastesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TASTES_FIELD_NUMBER: _ClassVar[int]
    FAMILIARITY_SET_FIELD_NUMBER: _ClassVar[int]
    FAMILIARITY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    tastes: _containers.ScalarMap[str, str]
    familiarity_set: bool
    familiarity: float
    description: str
    def __init__(self, tastes: _Optional[_Mapping[str, str]] = ..., familiarity_set: _Optional[bool] = ..., familiarity: _Optional[float] = ..., description: _Optional[str] = ...) -> None: ...

class ClockHour(_message.Message):
    __slots__ = ("weekday", "hour", "listens", "cluster_shares")
    class ClusterSharesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: float
        def __init__(self, key: _Optional[int] = ..., value: _Optional[float] = ...) -> None: ...
    WEEKDAY_FIELD_NUMBER: _ClassVar[int]
    HOUR_FIELD_NUMBER: _ClassVar[int]
    LISTENS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SHARES_FIELD_NUMBER: _ClassVar[int]
    weekday: int
    hour: int
    listens: int
    cluster_shares: _containers.ScalarMap[int, float]
    def __init__(self, weekday: _Optional[int] = ..., hour: _Optional[int] = ..., listens: _Optional[int] = ..., cluster_shares: _Optional[_Mapping[int, float]] = ...) -> None: ...

class YearTops(_message.Message):
    __slots__ = ("year", "listens", "top_artists", "top_tags")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    LISTENS_FIELD_NUMBER: _ClassVar[int]
    TOP_ARTISTS_FIELD_NUMBER: _ClassVar[int]
    TOP_TAGS_FIELD_NUMBER: _ClassVar[int]
    year: int
    listens: int
    top_artists: _containers.RepeatedCompositeFieldContainer[ArtistWeight]
    top_tags: _containers.RepeatedCompositeFieldContainer[TagWeight]
    def __init__(self, year: _Optional[int] = ..., listens: _Optional[int] = ..., top_artists: _Optional[_Iterable[_Union[ArtistWeight, _Mapping]]] = ..., top_tags: _Optional[_Iterable[_Union[TagWeight, _Mapping]]] = ...) -> None: ...

class SpotifyLinkStatus(_message.Message):
    __slots__ = ("linked", "status", "linked_at", "last_sync_at", "last_sync_plays", "next_sync_at", "last_error", "time_zone", "cron")
    LINKED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LINKED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNC_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNC_PLAYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_SYNC_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    linked: bool
    status: str
    linked_at: str
    last_sync_at: str
    last_sync_plays: int
    next_sync_at: str
    last_error: str
    time_zone: str
    cron: str
    def __init__(self, linked: _Optional[bool] = ..., status: _Optional[str] = ..., linked_at: _Optional[str] = ..., last_sync_at: _Optional[str] = ..., last_sync_plays: _Optional[int] = ..., next_sync_at: _Optional[str] = ..., last_error: _Optional[str] = ..., time_zone: _Optional[str] = ..., cron: _Optional[str] = ...) -> None: ...
