"""The tar headers this tool writes, read back without tarfile.

Every bundle's tar is written by tarfile in GNU format with fixed fields (bundle._add and the
server's streamed_delta._member: mode 0644, uid, gid and mtime 0, no owner names), so only a
member's name, size and checksum vary from one header to the next. Python's tarfile spends about
40 µs on each header it reads (a TarInfo and a dozen fields decoded one by one): a tenth of the
CPU of a new device's pull from the server, which reads 60,000 of them. `canonical_members` reads
an archive made only of such headers with a few slice comparisons each and gives up (None) at
anything else, which tarfile then reads as it always did. It accepts a subset of what tarfile
accepts and reads it the same way (tests/test_tar_headers.py compares the two on mutated archives).
"""

from __future__ import annotations

import re
import tarfile

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_MODE_UID_GID = b"0000644\x000000000\x000000000\x00"  # bytes 100-124
_MTIME = b"00000000000\x00"  # bytes 136-148
# From the type flag on: a regular file ("0"), no link name, GNU magic, no owner names, device
# numbers or prefix (bytes 156-512).
_REST = b"0" + bytes(100) + b"ustar  \x00" + bytes(BLOCK - 265)
_SIZE = re.compile(rb"[0-7]{11}\x00")  # bytes 124-136, as tarfile writes sizes under 8 GiB


def canonical_members(tar: bytes, max_trailer: int) -> list[tuple[str, int, int]] | None:
    """Each member as (name, offset of its data, size), when every header of `tar` is one this
    tool writes, the archive ends with a zero block and at most `max_trailer` bytes from there;
    None otherwise (tarfile reads it then, and finds what is wrong with it)."""
    members: list[tuple[str, int, int]] = []
    offset, end = 0, len(tar)
    while offset + BLOCK <= end:
        header = tar[offset : offset + BLOCK]
        if header == _ZERO_BLOCK:  # the end of the archive, as tarfile sees it
            return members if end - offset <= max_trailer else None
        if header[100:124] != _MODE_UID_GID or header[136:148] != _MTIME or header[156:] != _REST:
            return None
        raw_size = header[124:136]
        if not _SIZE.fullmatch(raw_size):
            return None
        # The checksum as tarfile writes it: the unsigned sum, its checksum field counted as spaces.
        if header[148:156] != b"%06o\x00 " % (sum(header) - sum(header[148:156]) + 256):
            return None
        name_end = header.find(b"\x00", 0, 100)
        name_end = 100 if name_end < 0 else name_end
        if name_end == 0 or header[name_end:100].count(0) != 100 - name_end:
            return None
        try:
            name = header[:name_end].decode(tarfile.ENCODING)  # what tarfile decodes it with
        except UnicodeDecodeError:
            return None  # tarfile would read it with surrogate escapes: let it
        size = int(raw_size[:11], 8)
        start = offset + BLOCK
        if start + size > end:
            return None  # cut short: tarfile reports it
        members.append((name, start, size))
        offset = start + -(-size // BLOCK) * BLOCK
    return None  # no end-of-archive block
