from fullcircle.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BeginLinkRequest(_message.Message):
    __slots__ = ("user_id", "user_name", "time_zone", "cron")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    user_name: str
    time_zone: str
    cron: str
    def __init__(self, user_id: _Optional[str] = ..., user_name: _Optional[str] = ..., time_zone: _Optional[str] = ..., cron: _Optional[str] = ...) -> None: ...

class BeginLinkReply(_message.Message):
    __slots__ = ("authorize_url",)
    AUTHORIZE_URL_FIELD_NUMBER: _ClassVar[int]
    authorize_url: str
    def __init__(self, authorize_url: _Optional[str] = ...) -> None: ...

class CompleteLinkRequest(_message.Message):
    __slots__ = ("user_id", "redirect_url")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    redirect_url: str
    def __init__(self, user_id: _Optional[str] = ..., redirect_url: _Optional[str] = ...) -> None: ...

class CompleteLinkReply(_message.Message):
    __slots__ = ("next_sync_at",)
    NEXT_SYNC_AT_FIELD_NUMBER: _ClassVar[int]
    next_sync_at: str
    def __init__(self, next_sync_at: _Optional[str] = ...) -> None: ...

class UnlinkRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class UnlinkReply(_message.Message):
    __slots__ = ("unlinked",)
    UNLINKED_FIELD_NUMBER: _ClassVar[int]
    unlinked: bool
    def __init__(self, unlinked: _Optional[bool] = ...) -> None: ...

class WritePlaylistRequest(_message.Message):
    __slots__ = ("user_id", "key", "name", "description", "entries")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    key: str
    name: str
    description: str
    entries: _containers.RepeatedCompositeFieldContainer[PlaylistEntry]
    def __init__(self, user_id: _Optional[str] = ..., key: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[PlaylistEntry, _Mapping]]] = ...) -> None: ...

class PlaylistEntry(_message.Message):
    __slots__ = ("artist", "title", "uri")
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    artist: str
    title: str
    uri: str
    def __init__(self, artist: _Optional[str] = ..., title: _Optional[str] = ..., uri: _Optional[str] = ...) -> None: ...

class WritePlaylistReply(_message.Message):
    __slots__ = ("playlist_id", "url", "items", "created", "uris", "searched")
    PLAYLIST_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    URIS_FIELD_NUMBER: _ClassVar[int]
    SEARCHED_FIELD_NUMBER: _ClassVar[int]
    playlist_id: str
    url: str
    items: int
    created: bool
    uris: _containers.RepeatedScalarFieldContainer[str]
    searched: int
    def __init__(self, playlist_id: _Optional[str] = ..., url: _Optional[str] = ..., items: _Optional[int] = ..., created: _Optional[bool] = ..., uris: _Optional[_Iterable[str]] = ..., searched: _Optional[int] = ...) -> None: ...

class GetLinkRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...
