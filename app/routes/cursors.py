"""Opaque page cursors over row ids (`?cursor=` in, `next_cursor` out) for the REST API."""

from __future__ import annotations

import base64
import binascii

from fastapi import HTTPException

__all__ = ["decode_id_cursor", "encode_id_cursor"]


def encode_id_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode("ascii").rstrip("=")


def decode_id_cursor(cursor: str | None) -> int | None:
    """The row id in a cursor this API returned; 400 for anything else."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    prefix, _, number = raw.partition(":")
    if prefix != "id" or not number.isascii() or not number.isdigit() or len(number) > 19:
        raise HTTPException(400, "cursor is not one this API returned")
    return int(number)
