"""Logging set-up: rich on a terminal, plain or JSON lines otherwise; ID numbers masked."""

from __future__ import annotations

import json
import logging
import sys

from ocr_job.config import LogFormat
from ocr_job.privacy import ScrubFilter


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(fmt: LogFormat = LogFormat.AUTO, level: int = logging.INFO) -> None:
    handler: logging.Handler
    if fmt is LogFormat.AUTO and sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        if fmt is LogFormat.JSON:
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ScrubFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "RapidOCR", "rapidocr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
