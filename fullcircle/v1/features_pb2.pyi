from fullcircle.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListenerExclusionRule(_message.Message):
    __slots__ = ("user_id", "rule")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    rule: _common_pb2.ExclusionRule
    def __init__(self, user_id: _Optional[str] = ..., rule: _Optional[_Union[_common_pb2.ExclusionRule, _Mapping]] = ...) -> None: ...

class ListenerExclusion(_message.Message):
    __slots__ = ("user_id", "exclusion_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EXCLUSION_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    exclusion_id: str
    def __init__(self, user_id: _Optional[str] = ..., exclusion_id: _Optional[str] = ...) -> None: ...

class SetListenerTimeZoneRequest(_message.Message):
    __slots__ = ("user_id", "time_zone")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    time_zone: str
    def __init__(self, user_id: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class TasteProfileRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class TrainingViewRequest(_message.Message):
    __slots__ = ("user_id", "cutoff", "max_artists", "max_tags")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CUTOFF_FIELD_NUMBER: _ClassVar[int]
    MAX_ARTISTS_FIELD_NUMBER: _ClassVar[int]
    MAX_TAGS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    cutoff: str
    max_artists: int
    max_tags: int
    def __init__(self, user_id: _Optional[str] = ..., cutoff: _Optional[str] = ..., max_artists: _Optional[int] = ..., max_tags: _Optional[int] = ...) -> None: ...

class ArtistStat(_message.Message):
    __slots__ = ("artist", "plays", "listens", "skips", "ms_played", "decayed_weight", "endorsement", "first_listen", "last_listen", "recent_listens", "hour_band")
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    PLAYS_FIELD_NUMBER: _ClassVar[int]
    LISTENS_FIELD_NUMBER: _ClassVar[int]
    SKIPS_FIELD_NUMBER: _ClassVar[int]
    MS_PLAYED_FIELD_NUMBER: _ClassVar[int]
    DECAYED_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENDORSEMENT_FIELD_NUMBER: _ClassVar[int]
    FIRST_LISTEN_FIELD_NUMBER: _ClassVar[int]
    LAST_LISTEN_FIELD_NUMBER: _ClassVar[int]
    RECENT_LISTENS_FIELD_NUMBER: _ClassVar[int]
    HOUR_BAND_FIELD_NUMBER: _ClassVar[int]
    artist: str
    plays: int
    listens: int
    skips: int
    ms_played: int
    decayed_weight: float
    endorsement: float
    first_listen: str
    last_listen: str
    recent_listens: int
    hour_band: str
    def __init__(self, artist: _Optional[str] = ..., plays: _Optional[int] = ..., listens: _Optional[int] = ..., skips: _Optional[int] = ..., ms_played: _Optional[int] = ..., decayed_weight: _Optional[float] = ..., endorsement: _Optional[float] = ..., first_listen: _Optional[str] = ..., last_listen: _Optional[str] = ..., recent_listens: _Optional[int] = ..., hour_band: _Optional[str] = ...) -> None: ...

class TrainingView(_message.Message):
    __slots__ = ("cutoff", "half_life_days", "min_listen_ms", "artists", "artist_stats", "top_tags", "recency", "recency_fitted")
    CUTOFF_FIELD_NUMBER: _ClassVar[int]
    HALF_LIFE_DAYS_FIELD_NUMBER: _ClassVar[int]
    MIN_LISTEN_MS_FIELD_NUMBER: _ClassVar[int]
    ARTISTS_FIELD_NUMBER: _ClassVar[int]
    ARTIST_STATS_FIELD_NUMBER: _ClassVar[int]
    TOP_TAGS_FIELD_NUMBER: _ClassVar[int]
    RECENCY_FIELD_NUMBER: _ClassVar[int]
    RECENCY_FITTED_FIELD_NUMBER: _ClassVar[int]
    cutoff: str
    half_life_days: float
    min_listen_ms: int
    artists: int
    artist_stats: _containers.RepeatedCompositeFieldContainer[ArtistStat]
    top_tags: _containers.RepeatedCompositeFieldContainer[_common_pb2.TagWeight]
    recency: str
    recency_fitted: bool
    def __init__(self, cutoff: _Optional[str] = ..., half_life_days: _Optional[float] = ..., min_listen_ms: _Optional[int] = ..., artists: _Optional[int] = ..., artist_stats: _Optional[_Iterable[_Union[ArtistStat, _Mapping]]] = ..., top_tags: _Optional[_Iterable[_Union[_common_pb2.TagWeight, _Mapping]]] = ..., recency: _Optional[str] = ..., recency_fitted: _Optional[bool] = ...) -> None: ...
