"""Persistence: the project's SQLite store and JSONL in and out."""

from __future__ import annotations

from .jsonl import JsonlResult, LineError, read_jsonl, write_jsonl
from .sqlite import Store

__all__ = ["JsonlResult", "LineError", "Store", "read_jsonl", "write_jsonl"]
