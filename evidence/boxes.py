"""The MP4 box walk of docs/evidence-format.md (step 3.5): which bytes after a sealed end are
whole fragments.

A box begins with a 32-bit big-endian size (1: a 64-bit size follows the 4-letter type) and
its type; a size below 8, or a box running past the end of the bytes, ends the walk. A
fragment is a whole ``moof`` box directly followed by a whole ``mdat`` box.
"""
from __future__ import annotations


def boxes(data: bytes, start: int = 0) -> list[tuple[int, int, bytes]]:
    """(offset, size, type) of each whole box that follows the one before it from ``start``."""
    found, position = [], start
    while position + 8 <= len(data):
        size, kind = int.from_bytes(data[position:position + 4], "big"), data[position + 4:position + 8]
        if size == 1 and position + 16 <= len(data):
            size = int.from_bytes(data[position + 8:position + 16], "big")
        if size < 8 or position + size > len(data):
            break
        found.append((position, size, kind))
        position += size
    return found


def fragments(data: bytes, start: int = 0) -> list[tuple[int, int]]:
    """(offset, size) of each whole fragment (``moof`` + ``mdat``) among the boxes from ``start``."""
    walked = boxes(data, start)
    return [(moof[0], moof[1] + mdat[1]) for moof, mdat in zip(walked, walked[1:])
            if moof[2] == b"moof" and mdat[2] == b"mdat"]
