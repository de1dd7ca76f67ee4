"""The job's configuration: one pydantic-settings model, read from flags and `OCR_*` env vars.

The operator builds a Job's environment from `JobConfig.to_env()`, so the names
here are the contract between the two.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "OCR_"

#: Default object-size cap (bytes): larger inputs get an `object_too_large` record.
DEFAULT_MAX_OBJECT_BYTES = 20 * 1024 * 1024
#: Default decoded-pixel cap: larger images get an `image_too_large` record before decoding.
DEFAULT_MAX_PIXELS = 40_000_000
#: Default decoder memory budget (MiB): an image whose decoding would cost more, estimated
#: from its header, gets an `image_too_large` record (see `ocr_job.imaging.decode`).
DEFAULT_DECODE_BUDGET_MIB = 48
#: The long side (px) the located card is scaled to before detection. Keeps memory flat.
DEFAULT_CARD_LONG_SIDE = 960

IMAGE_SUFFIXES: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".gif",
)


class EngineName(StrEnum):
    ONNX = "onnx"
    PADDLE = "paddle"


class Detector(StrEnum):
    """The onnx engine's text detector: the wheel's model quantised to 8 bits
    (`ocr_job.engines.quantize`), or the float model as shipped."""

    INT8 = "int8"
    FLOAT = "float"


class LogFormat(StrEnum):
    AUTO = "auto"
    PLAIN = "plain"
    JSON = "json"


class ShardSpec(BaseModel):
    """`I/N`: this process handles shard I (0-based) of N."""

    index: int = Field(ge=0)
    count: int = Field(ge=1)

    @model_validator(mode="after")
    def _index_in_range(self) -> ShardSpec:
        if self.index >= self.count:
            raise ValueError(f"shard index {self.index} is not below the count {self.count}")
        return self

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ValueError(f"shard must look like I/N (e.g. 0/4), got {text!r}")
        return cls(index=int(match[1]), count=int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class S3Settings(BaseSettings):
    """Object-store connection, from `OCR_S3_*`. Secrets stay SecretStr: never logged."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}S3_", extra="ignore")

    endpoint: str = "127.0.0.1:9000"
    access_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    secure: bool = False
    region: str = "us-east-1"
    #: Give up on a storage call when its transient failures have lasted this long (seconds);
    #: the shard then exits with code 1 and nothing unwritten is marked done.
    retry_timeout_s: Annotated[float, Field(ge=0)] = 120.0

    def check(self) -> S3Settings:
        """`self`, or ValueError when the endpoint is not `host[:port]` or
        `http(s)://host[:port][/]` (credentials, a path or a bad port in it). The message never
        repeats the value: it may hold a secret. The worker calls it at start (a usage error,
        exit 2); the settings themselves stay lenient for the operator's own checks."""
        text = self.endpoint.strip()
        parsed = urlsplit(text if "://" in text else f"http://{text}")
        if parsed.scheme not in ("http", "https"):
            raise ValueError("OCR_S3_ENDPOINT: the scheme must be http:// or https://")
        if "@" in parsed.netloc:
            raise ValueError(
                "OCR_S3_ENDPOINT must not hold credentials; use OCR_S3_ACCESS_KEY and OCR_S3_SECRET_KEY"
            )
        if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
            raise ValueError("OCR_S3_ENDPOINT must be host[:port], with no path or query")
        try:
            port = parsed.port
        except ValueError:
            raise ValueError("OCR_S3_ENDPOINT: the port must be a number from 1 to 65535") from None
        if not parsed.hostname or port == 0 or any(c.isspace() for c in text):
            raise ValueError("OCR_S3_ENDPOINT must be host[:port] (e.g. minio:9000)")
        return self


class JobConfig(BaseSettings):
    """Everything one `ocr-job run` needs. Flags override `OCR_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    source: str
    output: str
    engine: EngineName = EngineName.ONNX
    threads: Annotated[int, Field(ge=1, le=64)] = 1
    #: Read a doubtful name again with a second recogniser (the onnx engine's PP-OCRv5),
    #: and score it by the two recognisers' agreement: no confident misreading of a rare
    #: character. The model is loaded for each such name and unloaded (docs/benchmarks.md).
    second_opinion: bool = True
    #: The onnx engine's detector: int8 (3.5x faster; 476 vs 477 of 498 accuracy-set
    #: pictures every field right) or the float model (docs/benchmarks.md, issue 16).
    detector: Detector = Detector.INT8
    #: Write the card and portrait crops beside each record (`ocr_job.crops`): images of
    #: personal data, off unless asked for.
    crops: bool = False
    shard: ShardSpec | None = None
    manifest: str | None = None
    max_object_bytes: Annotated[int, Field(ge=1)] = DEFAULT_MAX_OBJECT_BYTES
    max_pixels: Annotated[int, Field(ge=1)] = DEFAULT_MAX_PIXELS
    #: The most memory (MiB) the decoder may take for one image. The default keeps the worker
    #: under the engine's need at the Job's default memory; raise it with the pod's memory
    #: to accept larger PNG, TIFF and WebP scans (docs/reliability.md).
    decode_budget_mib: Annotated[int, Field(ge=1, le=1 << 20)] = DEFAULT_DECODE_BUDGET_MIB
    card_long_side: Annotated[int, Field(ge=320, le=4096)] = DEFAULT_CARD_LONG_SIDE
    item_timeout_s: Annotated[float, Field(gt=0)] = 120.0
    log_format: LogFormat = LogFormat.AUTO
    #: Where to report progress in a cluster: `NAMESPACE/NAME` of the OcrBatch, or unset.
    status_target: str | None = None
    #: Minimum seconds between two status patches of this shard.
    status_interval_s: Annotated[float, Field(ge=0)] = 5.0
    #: Refuse to start when the cgroup memory limit is below the engine's need.
    check_memory: bool = True

    @field_validator("shard", mode="before")
    @classmethod
    def _parse_shard(cls, value: Any) -> Any:
        if isinstance(value, str):
            return ShardSpec.parse(value)
        return value

    @model_validator(mode="after")
    def _manifest_or_shard(self) -> JobConfig:
        if self.manifest and self.shard and self.shard.count > 1:
            raise ValueError("give either --manifest or --shard, not both")
        return self

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce this config (for Job manifests)."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(mode="json", exclude_none=True).items():
            if name == "shard":
                value = str(self.shard)
            env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
        return env
