from fullcircle.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PlaylistFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLAYLIST_FORMAT_UNSPECIFIED: _ClassVar[PlaylistFormat]
    PLAYLIST_FORMAT_FILE_M3U8: _ClassVar[PlaylistFormat]
    PLAYLIST_FORMAT_FILE_XSPF: _ClassVar[PlaylistFormat]
    PLAYLIST_FORMAT_FILE_JSPF: _ClassVar[PlaylistFormat]
    PLAYLIST_FORMAT_SPOTIFY: _ClassVar[PlaylistFormat]
PLAYLIST_FORMAT_UNSPECIFIED: PlaylistFormat
PLAYLIST_FORMAT_FILE_M3U8: PlaylistFormat
PLAYLIST_FORMAT_FILE_XSPF: PlaylistFormat
PLAYLIST_FORMAT_FILE_JSPF: PlaylistFormat
PLAYLIST_FORMAT_SPOTIFY: PlaylistFormat

class ImportChunk(_message.Message):
    __slots__ = ("file_name", "data", "size_bytes")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    data: bytes
    size_bytes: int
    def __init__(self, file_name: _Optional[str] = ..., data: _Optional[bytes] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class ImportAccepted(_message.Message):
    __slots__ = ("import_id", "size_bytes")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    size_bytes: int
    def __init__(self, import_id: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class WatchImportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class ImportProgress(_message.Message):
    __slots__ = ("import_id", "stage", "plays_read", "plays_stored", "plays_new", "duplicates", "set_aside", "rejected", "message", "finished", "files")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PLAYS_READ_FIELD_NUMBER: _ClassVar[int]
    PLAYS_STORED_FIELD_NUMBER: _ClassVar[int]
    PLAYS_NEW_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    SET_ASIDE_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    stage: str
    plays_read: int
    plays_stored: int
    plays_new: int
    duplicates: int
    set_aside: int
    rejected: int
    message: str
    finished: bool
    files: _containers.RepeatedCompositeFieldContainer[ImportFileReport]
    def __init__(self, import_id: _Optional[str] = ..., stage: _Optional[str] = ..., plays_read: _Optional[int] = ..., plays_stored: _Optional[int] = ..., plays_new: _Optional[int] = ..., duplicates: _Optional[int] = ..., set_aside: _Optional[int] = ..., rejected: _Optional[int] = ..., message: _Optional[str] = ..., finished: _Optional[bool] = ..., files: _Optional[_Iterable[_Union[ImportFileReport, _Mapping]]] = ...) -> None: ...

class ImportFileReport(_message.Message):
    __slots__ = ("name", "kind", "rows_read", "music_plays", "duplicates_merged", "podcasts", "audiobooks", "rejected", "set_aside")
    class RejectedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class SetAsideEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROWS_READ_FIELD_NUMBER: _ClassVar[int]
    MUSIC_PLAYS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_MERGED_FIELD_NUMBER: _ClassVar[int]
    PODCASTS_FIELD_NUMBER: _ClassVar[int]
    AUDIOBOOKS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    SET_ASIDE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    rows_read: int
    music_plays: int
    duplicates_merged: int
    podcasts: int
    audiobooks: int
    rejected: _containers.ScalarMap[str, int]
    set_aside: _containers.ScalarMap[str, int]
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., rows_read: _Optional[int] = ..., music_plays: _Optional[int] = ..., duplicates_merged: _Optional[int] = ..., podcasts: _Optional[int] = ..., audiobooks: _Optional[int] = ..., rejected: _Optional[_Mapping[str, int]] = ..., set_aside: _Optional[_Mapping[str, int]] = ...) -> None: ...

class GetRecommendationsRequest(_message.Message):
    __slots__ = ("limit", "mode", "prompt", "genre", "set_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    GENRE_FIELD_NUMBER: _ClassVar[int]
    SET_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    mode: _common_pb2.RecommendationMode
    prompt: str
    genre: str
    set_id: str
    def __init__(self, limit: _Optional[int] = ..., mode: _Optional[_Union[_common_pb2.RecommendationMode, str]] = ..., prompt: _Optional[str] = ..., genre: _Optional[str] = ..., set_id: _Optional[str] = ...) -> None: ...

class GetSteeringRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SubscribeRecommendationsRequest(_message.Message):
    __slots__ = ("last_event_id",)
    LAST_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    last_event_id: str
    def __init__(self, last_event_id: _Optional[str] = ...) -> None: ...

class RecommendationsEvent(_message.Message):
    __slots__ = ("event_id", "set")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    set: _common_pb2.RecommendationSet
    def __init__(self, event_id: _Optional[str] = ..., set: _Optional[_Union[_common_pb2.RecommendationSet, _Mapping]] = ...) -> None: ...

class GetTasteProfileRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListExclusionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveExclusionRequest(_message.Message):
    __slots__ = ("exclusion_id",)
    EXCLUSION_ID_FIELD_NUMBER: _ClassVar[int]
    exclusion_id: str
    def __init__(self, exclusion_id: _Optional[str] = ...) -> None: ...

class SetTimeZoneRequest(_message.Message):
    __slots__ = ("time_zone",)
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    time_zone: str
    def __init__(self, time_zone: _Optional[str] = ...) -> None: ...

class SyncSpotifyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SyncSpotifyAccepted(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class ExplainRecommendationRequest(_message.Message):
    __slots__ = ("artist",)
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    artist: str
    def __init__(self, artist: _Optional[str] = ...) -> None: ...

class SubmitFeedbackRequest(_message.Message):
    __slots__ = ("artist", "kind", "expires_in_days")
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_DAYS_FIELD_NUMBER: _ClassVar[int]
    artist: str
    kind: _common_pb2.FeedbackKind
    expires_in_days: int
    def __init__(self, artist: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.FeedbackKind, str]] = ..., expires_in_days: _Optional[int] = ...) -> None: ...

class FeedbackAccepted(_message.Message):
    __slots__ = ("expires_at",)
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    expires_at: str
    def __init__(self, expires_at: _Optional[str] = ...) -> None: ...

class LinkSpotifyRequest(_message.Message):
    __slots__ = ("redirect_url", "time_zone", "cron")
    REDIRECT_URL_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    redirect_url: str
    time_zone: str
    cron: str
    def __init__(self, redirect_url: _Optional[str] = ..., time_zone: _Optional[str] = ..., cron: _Optional[str] = ...) -> None: ...

class LinkSpotifyReply(_message.Message):
    __slots__ = ("authorize_url", "next_sync_at")
    AUTHORIZE_URL_FIELD_NUMBER: _ClassVar[int]
    NEXT_SYNC_AT_FIELD_NUMBER: _ClassVar[int]
    authorize_url: str
    next_sync_at: str
    def __init__(self, authorize_url: _Optional[str] = ..., next_sync_at: _Optional[str] = ...) -> None: ...

class CreatePlaylistRequest(_message.Message):
    __slots__ = ("prompt",)
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    def __init__(self, prompt: _Optional[str] = ...) -> None: ...

class PlayedBetween(_message.Message):
    __slots__ = ("from_time", "to_time")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    from_time: str
    to_time: str
    def __init__(self, from_time: _Optional[str] = ..., to_time: _Optional[str] = ...) -> None: ...

class DeletePlaysRequest(_message.Message):
    __slots__ = ("import_id", "played_between", "artist", "all")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAYED_BETWEEN_FIELD_NUMBER: _ClassVar[int]
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    played_between: PlayedBetween
    artist: str
    all: bool
    def __init__(self, import_id: _Optional[str] = ..., played_between: _Optional[_Union[PlayedBetween, _Mapping]] = ..., artist: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...

class DeleteAccountRequest(_message.Message):
    __slots__ = ("confirm",)
    CONFIRM_FIELD_NUMBER: _ClassVar[int]
    confirm: bool
    def __init__(self, confirm: _Optional[bool] = ...) -> None: ...

class DeletionReport(_message.Message):
    __slots__ = ("request_id", "service", "removed", "finished", "message", "pending")
    class RemovedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    service: str
    removed: _containers.ScalarMap[str, int]
    finished: bool
    message: str
    pending: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[str] = ..., service: _Optional[str] = ..., removed: _Optional[_Mapping[str, int]] = ..., finished: _Optional[bool] = ..., message: _Optional[str] = ..., pending: _Optional[_Iterable[str]] = ...) -> None: ...

class ExportPlaylistRequest(_message.Message):
    __slots__ = ("prompt", "format")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    format: PlaylistFormat
    def __init__(self, prompt: _Optional[str] = ..., format: _Optional[_Union[PlaylistFormat, str]] = ...) -> None: ...

class PlaylistFile(_message.Message):
    __slots__ = ("file_name", "media_type", "content", "playlist", "spotify", "without_uri")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    PLAYLIST_FIELD_NUMBER: _ClassVar[int]
    SPOTIFY_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_URI_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    media_type: str
    content: bytes
    playlist: _common_pb2.Playlist
    spotify: SpotifyPlaylist
    without_uri: _containers.RepeatedCompositeFieldContainer[_common_pb2.PlaylistTrack]
    def __init__(self, file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., content: _Optional[bytes] = ..., playlist: _Optional[_Union[_common_pb2.Playlist, _Mapping]] = ..., spotify: _Optional[_Union[SpotifyPlaylist, _Mapping]] = ..., without_uri: _Optional[_Iterable[_Union[_common_pb2.PlaylistTrack, _Mapping]]] = ...) -> None: ...

class SpotifyPlaylist(_message.Message):
    __slots__ = ("playlist_id", "url", "items", "created")
    PLAYLIST_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    playlist_id: str
    url: str
    items: int
    created: bool
    def __init__(self, playlist_id: _Optional[str] = ..., url: _Optional[str] = ..., items: _Optional[int] = ..., created: _Optional[bool] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ApiKeyInfo(_message.Message):
    __slots__ = ("key_id", "prefix", "name", "created_at", "revoked_at", "current")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    prefix: str
    name: str
    created_at: str
    revoked_at: str
    current: bool
    def __init__(self, key_id: _Optional[str] = ..., prefix: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[str] = ..., revoked_at: _Optional[str] = ..., current: _Optional[bool] = ...) -> None: ...

class ApiKeys(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKeyInfo]
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKeyInfo, _Mapping]]] = ...) -> None: ...

class NewApiKeyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class NewApiKey(_message.Message):
    __slots__ = ("api_key", "key")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    key: ApiKeyInfo
    def __init__(self, api_key: _Optional[str] = ..., key: _Optional[_Union[ApiKeyInfo, _Mapping]] = ...) -> None: ...

class RevokeOwnApiKeyRequest(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class GetSpotifyLinkRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
