from fullcircle.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImportChunk(_message.Message):
    __slots__ = ("file_name", "data")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    data: bytes
    def __init__(self, file_name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

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
    __slots__ = ("import_id", "stage", "plays_read", "plays_stored", "plays_new", "duplicates", "set_aside", "rejected", "message", "finished")
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
    def __init__(self, import_id: _Optional[str] = ..., stage: _Optional[str] = ..., plays_read: _Optional[int] = ..., plays_stored: _Optional[int] = ..., plays_new: _Optional[int] = ..., duplicates: _Optional[int] = ..., set_aside: _Optional[int] = ..., rejected: _Optional[int] = ..., message: _Optional[str] = ..., finished: _Optional[bool] = ...) -> None: ...

class GetRecommendationsRequest(_message.Message):
    __slots__ = ("limit", "mode")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    limit: int
    mode: _common_pb2.RecommendationMode
    def __init__(self, limit: _Optional[int] = ..., mode: _Optional[_Union[_common_pb2.RecommendationMode, str]] = ...) -> None: ...

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

class SyncSpotifyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SyncSpotifyAccepted(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...
