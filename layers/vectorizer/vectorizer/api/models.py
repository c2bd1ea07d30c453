"""The shapes of the HTTP API, as pydantic models: validation in, documentation out."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from vectorizer.api.weaviate_objects import WeaviateClass, WeaviateObject, module_config, object_text
from vectorizer.config import ModuleConfig, Purpose, endpoint_url_problem
from vectorizer.jobs.message import ITEM_ID_MAX_LENGTH

Mode = Literal["auto", "sync", "async"]
JobStatusName = Literal["queued", "running", "succeeded", "failed", "partial"]


# As long as a queue message's item id may be (messages.ChunkItem), so a job never refuses one.
ItemId = Annotated[str, Field(max_length=ITEM_ID_MAX_LENGTH)]


def _check_encodable(field: str, values: list[str]) -> None:
    # JSON may carry lone surrogates ("\ud800") that no UTF-8 request or message can hold.
    for index, value in enumerate(values):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"'{field}' entry {index} is not valid Unicode text (a lone surrogate)") from None


def _without_absent(handler: SerializerFunctionWrapHandler, model: BaseModel, names: tuple[str, ...]) -> Any:
    # Fields that only some answers have are left out, not null, where they do not apply.
    data = handler(model)
    for name in names:
        if data.get(name, ...) is None:
            del data[name]
    return data


class VectorizeRequest(BaseModel):
    """Texts with a module config, or Weaviate objects with their class definition.

    With `class`, the config is read from the class's own `moduleConfig` and each object's text is
    built as Weaviate builds it (docs/weaviate-objects.md); after validation `texts` and `ids`
    hold those texts and the object ids, so everything downstream sees one shape.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    config: ModuleConfig = Field(default_factory=ModuleConfig, description="text2vec-huggingface moduleConfig")
    weaviate_class: WeaviateClass | None = Field(
        None, alias="class", description="a Weaviate class definition; its moduleConfig replaces `config`"
    )
    texts: list[str] | None = Field(None, min_length=1, description="the texts to vectorize, in order")
    objects: list[WeaviateObject] | None = Field(
        None, min_length=1, description="Weaviate objects (`id`, `properties`) to vectorize, with `class`"
    )
    ids: list[ItemId | None] | None = Field(None, description="one id per text, returned beside its vector")
    purpose: Purpose = Field("passage", description="'query' uses queryModel, else passageModel or model")
    mode: Mode = Field("auto", description="auto: inline up to the sync limit, else a job")
    callback_url: str | None = Field(
        None, alias="callbackUrl", max_length=2048,
        description="an https URL on CALLBACK_ALLOWED_HOSTS: when the job ends, its end is POSTed there, signed "
        "(X-Vectorizer-Signature); a request answered inline calls nothing",
    )

    @field_validator("callback_url")
    @classmethod
    def _callable_callback(cls, value: str | None) -> str | None:
        # Whether it may be called is the allow-list's 403 (`config.check_callback_allowed`).
        problem = None if value is None else endpoint_url_problem(value, "callbackUrl")
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="before")
    @classmethod
    def _config_from_class(cls, data: Any) -> Any:
        # Read the class's moduleConfig before `config` is validated, so that its errors are
        # reported exactly like those of a `config` given directly.
        if isinstance(data, dict) and isinstance(data.get("class"), dict):
            if "config" in data:
                raise ValueError("give either 'config' or 'class', not both: 'class' carries its own moduleConfig")
            data = {**data, "config": module_config(data["class"])}
        return data

    @model_validator(mode="after")
    def _texts_or_objects(self) -> VectorizeRequest:
        if self.objects is not None:
            if self.weaviate_class is None:
                raise ValueError("'objects' need the 'class' they belong to")
            if self.texts is not None or self.ids is not None:
                raise ValueError("give 'objects' or 'texts' (with 'ids'), not both: objects carry their own ids")
            self.texts = [object_text(self.weaviate_class, item.properties) for item in self.objects]
            self.ids = [item.id for item in self.objects]
        if self.texts is None:
            raise ValueError("give 'texts' (or 'objects' with their 'class')")
        _check_encodable("texts", self.texts)
        _check_encodable("ids", [item for item in self.ids or () if item is not None])
        if self.ids is not None and len(self.ids) != len(self.texts):
            raise ValueError(f"'ids' has {len(self.ids)} entries for {len(self.texts)} texts")
        if self.callback_url is not None and self.mode == "sync":
            raise ValueError("'callbackUrl' is for jobs: with mode 'sync' the answer itself is the notice")
        return self


class FileInput(BaseModel):
    """Where a file job's records are: a JSONL or CSV file, uploaded after (no `uri`) or in S3 already."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["jsonl", "csv"] = Field(description="jsonl: one text, {text, id} or Weaviate object a line; "
                                            "csv: a header with a `text` column and an optional `id`")
    uri: str | None = Field(
        None, max_length=1100,
        description="s3://bucket/key in the files bucket or on INPUT_BUCKETS; omitted: answered with an upload link",
    )


class FileJobRequest(BaseModel):
    """`POST /jobs`: a module config (or a Weaviate class carrying one), the input file and a callback."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    config: ModuleConfig = Field(default_factory=ModuleConfig, description="text2vec-huggingface moduleConfig")
    weaviate_class: WeaviateClass | None = Field(
        None, alias="class", description="a Weaviate class definition; its moduleConfig replaces `config`"
    )
    purpose: Purpose = Field("passage", description="'query' uses queryModel, else passageModel or model")
    input: FileInput
    callback_url: str | None = Field(
        None, alias="callbackUrl", max_length=2048,
        description="an https URL on CALLBACK_ALLOWED_HOSTS, POSTed (signed) when the job ends",
    )

    # The same rules as /vectorize's: one place each.
    _callable_callback = field_validator("callback_url")(VectorizeRequest._callable_callback.__func__)
    _config_from_class = model_validator(mode="before")(VectorizeRequest._config_from_class.__func__)


class UploadLinkModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    url: str = Field(description="a presigned S3 URL: PUT the file's bytes to it")
    method: Literal["PUT"] = "PUT"
    expires_at: str = Field(alias="expiresAt", description="when the link stops working (UTC)")


class FileJobAccepted(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    job_id: str = Field(alias="jobId")
    status: Literal["awaiting_upload", "queued"]
    upload: UploadLinkModel | None = Field(None, description="where to PUT the file (only without `input.uri`)")

    @model_serializer(mode="wrap")
    def _absent_upload(self, handler: SerializerFunctionWrapHandler):  # unannotated: the schema stays the fields
        return _without_absent(handler, self, ("upload",))


class ItemErrorModel(BaseModel):
    index: int
    id: str | None
    error: str


class VectorizeResponse(BaseModel):
    model: str
    dimensions: int
    vectors: list[list[float] | None]
    ids: list[str | None]
    errors: list[ItemErrorModel] = Field(default_factory=list, description="inputs that got no vector")


class JobAccepted(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    job_id: str = Field(alias="jobId")
    status: Literal["queued"] = "queued"
    total: int
    chunks: int


class HfUsageModel(BaseModel):
    """What a job's counted chunks asked of Hugging Face, and what the content cache and dedupe saved."""

    model_config = ConfigDict(populate_by_name=True)

    texts: int = Field(0, description="inputs the job's chunks asked vectors for (items that arrived failed excluded)")
    cache_hits: int = Field(0, alias="cacheHits", description="inputs answered from the content cache")
    hit_ratio: float | None = Field(
        None, alias="hitRatio", description="cacheHits / texts, to 4 decimals; null when no input was asked for"
    )
    sent: int = Field(0, description="distinct texts sent to Hugging Face")
    requests: int = Field(0, description="Hugging Face requests made for them (a retry not counted again)")
    requests_saved: int = Field(
        0, alias="requestsSaved",
        description="requests the same inputs would have needed with neither cache nor dedupe, less `requests`",
    )


class FileInputReport(BaseModel):
    """Where a file job reads its records from."""

    format: Literal["jsonl", "csv"]
    uri: str = Field(description="s3://bucket/key: the uploaded file, or the object the job named")


class ShardLinksModel(BaseModel):
    chunk: int
    vectors: str = Field(description="GET link: the shard's rows as JSONL ({id, line, vector})")
    matrix: str = Field(description="GET link: the shard's vectors as a float32 .npy matrix, in row order")
    ids: str = Field(description="GET link: the shard's rows as JSONL ({index, line, id}), in matrix order")


class FileOutputModel(BaseModel):
    """Presigned GET links to a file job's output, once its manifest is written."""

    model_config = ConfigDict(populate_by_name=True)

    expires_in: int = Field(alias="expiresIn", description="seconds the links stay valid (OUTPUT_URL_SECONDS)")
    manifest: str = Field(description="GET link: manifest.json (counts, dimensions, every shard's keys)")
    failures: str = Field(description="GET link: failed.jsonl, one line per item without a vector")
    shards: list[ShardLinksModel] = Field(description="shards in chunk order, as many as fit this answer")
    next_token: str | None = Field(
        None, alias="nextToken",
        description="pass back as `nextToken` to GET /jobs/{jobId} for the links to the shards after these",
    )


class JobStatus(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    job_id: str = Field(alias="jobId")
    status: JobStatusName
    total: int
    succeeded: int
    failed: int
    model: str | None
    dimensions: int | None
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    errors: list[ItemErrorModel]
    errors_omitted: int = Field(
        0, alias="errorsOmitted",
        description="failed items whose errors are not in `errors`: the list is cut to keep the answer within "
        "Lambda's response limit, and to MAX_REPORTED_ERRORS entries",
    )
    failure_reason: str | None = Field(
        None, alias="failureReason", description="why the whole job failed (e.g. its chunks could not be queued)"
    )
    # Always in the answer; the default lets a client read a server that predates it.
    hf: HfUsageModel = Field(
        default_factory=HfUsageModel,
        description="what the job asked of Hugging Face and what the cache and dedupe saved",
    )
    # File jobs only (POST /jobs); a body job's answer leaves both out.
    input: FileInputReport | None = Field(None, description="a file job's input file")
    output: FileOutputModel | None = Field(
        None, description="a file job's output links, once it has ended and its manifest is written"
    )

    @model_serializer(mode="wrap")
    def _absent_file_fields(self, handler: SerializerFunctionWrapHandler):  # unannotated: the schema stays the fields
        # A body job's answer stays as it always was; a file job's shows `output` null until its manifest.
        if self.input is None and self.output is None:
            return _without_absent(handler, self, ("input", "output"))
        return handler(self)


class VectorItem(BaseModel):
    index: int
    id: str | None
    vector: list[float]


class VectorsPage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    items: list[VectorItem]
    next_token: str | None = Field(
        alias="nextToken",
        description="pass back for the next page; a page may end before `limit` to stay within Lambda's "
        "response limit",
    )


class ErrorBody(BaseModel):
    error: str = Field(description="what went wrong, for a person")
    code: str = Field(description="a stable machine code")
