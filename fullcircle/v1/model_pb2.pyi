from fullcircle.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelSteeringRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class ModelSetSteeringRequest(_message.Message):
    __slots__ = ("user_id", "change")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    change: _common_pb2.SteeringChange
    def __init__(self, user_id: _Optional[str] = ..., change: _Optional[_Union[_common_pb2.SteeringChange, _Mapping]] = ...) -> None: ...

class ModelPlaylistRequest(_message.Message):
    __slots__ = ("user_id", "prompt")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    prompt: str
    def __init__(self, user_id: _Optional[str] = ..., prompt: _Optional[str] = ...) -> None: ...

class ModelExplainRequest(_message.Message):
    __slots__ = ("user_id", "artist")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    artist: str
    def __init__(self, user_id: _Optional[str] = ..., artist: _Optional[str] = ...) -> None: ...

class ModelRecommendationsRequest(_message.Message):
    __slots__ = ("user_id", "limit", "mode", "set_id", "prompt", "genre")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SET_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    GENRE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    limit: int
    mode: _common_pb2.RecommendationMode
    set_id: str
    prompt: str
    genre: str
    def __init__(self, user_id: _Optional[str] = ..., limit: _Optional[int] = ..., mode: _Optional[_Union[_common_pb2.RecommendationMode, str]] = ..., set_id: _Optional[str] = ..., prompt: _Optional[str] = ..., genre: _Optional[str] = ...) -> None: ...
