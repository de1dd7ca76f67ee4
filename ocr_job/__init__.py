"""ocrbatch's single-process OCR worker for Chinese resident ID cards."""

__version__ = "0.1.0"
