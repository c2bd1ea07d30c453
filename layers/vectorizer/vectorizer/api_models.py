"""The shapes of the HTTP API, as pydantic models: validation in, documentation out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .config import ModuleConfig, Purpose

Mode = Literal["auto", "sync", "async"]
JobStatusName = Literal["queued", "running", "succeeded", "failed", "partial"]


class VectorizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    config: ModuleConfig = Field(default_factory=ModuleConfig, description="text2vec-huggingface moduleConfig")
    texts: list[str] = Field(min_length=1, description="the texts to vectorize, in order")
    ids: list[str | None] | None = Field(None, description="one id per text, returned beside its vector")
    purpose: Purpose = Field("passage", description="'query' uses queryModel, else passageModel or model")
    mode: Mode = Field("auto", description="auto: inline up to the sync limit, else a job")

    @model_validator(mode="after")
    def _one_id_per_text(self) -> VectorizeRequest:
        if self.ids is not None and len(self.ids) != len(self.texts):
            raise ValueError(f"'ids' has {len(self.ids)} entries for {len(self.texts)} texts")
        return self


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


class VectorItem(BaseModel):
    index: int
    id: str | None
    vector: list[float]


class VectorsPage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    items: list[VectorItem]
    next_token: str | None = Field(alias="nextToken")


class ErrorBody(BaseModel):
    error: str = Field(description="what went wrong, for a person")
    code: str = Field(description="a stable machine code")
