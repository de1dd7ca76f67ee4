"""The README documents every stable code the records can carry."""

from __future__ import annotations

from pathlib import Path

from ocr_job.idcard.reading import CHECK_CODES, WARNING_CODES
from ocr_job.records import CSV_COLUMNS, ErrorCode

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


def test_every_error_code_is_documented() -> None:
    for code in ErrorCode:
        assert f"| `{code.value}` |" in README, code


def test_every_warning_and_check_is_documented() -> None:
    for code in WARNING_CODES:
        assert f"| `{code}` |" in README, code
    for check in CHECK_CODES:
        assert f"`{check}`" in README, check


def test_csv_columns_are_documented() -> None:
    for column in CSV_COLUMNS:
        assert column in README, column
