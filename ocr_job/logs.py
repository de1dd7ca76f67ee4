"""Logging set-up: rich on a terminal, plain or JSON lines otherwise; personal data masked.

Every line goes through `privacy.ScrubFilter`, tracebacks included, and so do the
tracebacks nobody catches: `setup_logging` routes `sys.excepthook`,
`threading.excepthook`, `sys.unraisablehook` and Python warnings into the same logger.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from types import TracebackType
from typing import Any

from ocr_job.config import LogFormat
from ocr_job.privacy import ScrubFilter

log = logging.getLogger("ocr_job")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(fmt: LogFormat = LogFormat.AUTO, level: int = logging.INFO) -> None:
    handler: logging.Handler
    if fmt is LogFormat.AUTO and sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
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
    install_exception_hooks()


def install_exception_hooks() -> None:
    """Uncaught exceptions (main thread, other threads, finalizers) and warnings are
    logged, hence scrubbed, instead of printed raw."""
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    sys.unraisablehook = _unraisablehook
    logging.captureWarnings(True)


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    log.critical("uncaught exception, stopping", exc_info=(kind, exc, tb))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    log.critical(
        "uncaught exception in thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )


def _unraisablehook(args: Any) -> None:
    exc = args.exc_value or args.exc_type()
    log.error(
        "exception ignored in %s",
        type(args.object).__name__ if args.object is not None else "?",
        exc_info=(args.exc_type, exc, args.exc_traceback),
    )
