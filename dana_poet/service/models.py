"""The JSON bodies of the service API (pydantic: a wrong shape is a 422 naming the field)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

MAX_CODE_CHARS = 100_000
MAX_BATCH = 1_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TranspileRequest(_Body):
    function_code: str = Field(min_length=1, max_length=MAX_CODE_CHARS)
    language: Literal["dana", "python"] = "dana"
    config: dict[str, JsonValue] | None = None
    context: dict[str, JsonValue] | None = None


class Implementation(BaseModel):
    code: str
    language: str


class TranspileMetadata(BaseModel):
    function_id: str
    function_name: str
    version: int
    params: dict[str, JsonValue]
    generator: str | None
    fallback_used: str | None
    cache_hit: bool


class TranspileResponse(BaseModel):
    poet_implementation: Implementation
    metadata: TranspileMetadata


class ExecutionIn(_Body):
    execution_id: str = Field(min_length=1, max_length=200)
    inputs: dict[str, JsonValue] = {}
    output: JsonValue = None
    version: int = Field(default=0, ge=0)
    params: dict[str, JsonValue] = {}
    timings: dict[str, JsonValue] = {}
    error: str | None = Field(default=None, max_length=10_000)


class ExecutionsRequest(_Body):
    function_id: str = Field(min_length=1, max_length=200)
    executions: list[ExecutionIn] = Field(max_length=MAX_BATCH)


class ExecutionsAccepted(BaseModel):
    accepted: int


class FeedbackRequest(_Body):
    execution_id: str = Field(min_length=1, max_length=200)
    function_id: str | None = Field(default=None, max_length=200)
    function_name: str | None = Field(default=None, max_length=200)
    feedback_payload: JsonValue = None
    execution: ExecutionIn | None = None  # lets a client send feedback before its batch
    idempotency_key: str | None = Field(
        default=None,
        min_length=8,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="chosen by the client once per feedback record; a resend with the same key "
        "is not recorded again and gets the first answer's feedback_id and signal",
    )


class FeedbackResponse(BaseModel):
    status: Literal["recorded"]
    feedback_id: str
    function_id: str
    signal: dict[str, JsonValue]
    version: int
    params: dict[str, JsonValue]
    duplicate: bool = False  # the idempotency key was seen before: nothing new was recorded


class FunctionBrief(BaseModel):
    function_id: str
    name: str
    current_version: int


class FunctionList(BaseModel):
    functions: list[FunctionBrief]


class VersionInfo(BaseModel):
    version: int
    reason: str
    params: dict[str, JsonValue]
    created: float


class FunctionDetail(BaseModel):
    function_id: str
    name: str
    language: str
    current_version: int
    versions: list[VersionInfo]
    params: dict[str, JsonValue]


class RollbackRequest(_Body):
    version: int = Field(ge=0)


class SentimentCounts(BaseModel):
    positive: int = 0
    negative: int = 0
    neutral: int = 0
    total: int = 0


class FeedbackSummary(BaseModel):
    function_id: str
    total: int
    by_version: dict[str, SentimentCounts]
    by_sentiment: SentimentCounts


class ExecutionOut(BaseModel):
    execution_id: str
    version: int
    inputs: dict[str, JsonValue]
    output: JsonValue
    params: dict[str, JsonValue]
    error: str | None
    created: float


class ExecutionList(BaseModel):
    function_id: str
    executions: list[ExecutionOut]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    version: str
    storage: Literal["sqlite", "postgresql"]
    detail: str | None = None


class Problem(BaseModel):
    detail: Any
