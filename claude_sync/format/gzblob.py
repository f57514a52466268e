"""Files stored as gzip members (the Git backend's blobs since format 6, backends/git.py).

Git compresses every object itself with zlib, in one process on one core, and whoever
clones or fetches inflates and hashes every byte of it again: for a repository of 2 GB of
transcripts that was most of a new device's transport and of a full push. A file gzip'd
before git sees it is hashed and stored as its compressed bytes (about a fifth), and the
compressing and inflating happen in claude-sync's own threads and workers, with ISA-L
(4x faster than zlib's level 1 at a better ratio on transcripts; zlib where isal has no wheel).

What a remote sends is untrusted: `inflate` stops at a budget of plain bytes (a small blob
may claim to inflate to gigabytes), checks the CRC and the length in the trailer, and
refuses a member that is cut short or followed by anything.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import BundleError

# ISA-L inflates 2x faster than zlib, same results; zlib where isal has no wheel (bundle.py inflates
# bundles with the same choice).
decompressobj: Callable[[int], Any]
INFLATE_ERROR: type[Exception]
try:
    from isal import igzip, isal_zlib

    def _compress(data: bytes, level: int) -> bytes:
        return igzip.compress(data, level, mtime=0)  # type: ignore[no-any-return]

    decompressobj, INFLATE_ERROR = isal_zlib.decompressobj, isal_zlib.error  # type: ignore[assignment]
except ImportError:  # pragma: no cover - a platform without an isal wheel: same format, slower

    def _compress(data: bytes, level: int) -> bytes:
        return gzip.compress(data, compresslevel=level, mtime=0)

    decompressobj, INFLATE_ERROR = zlib.decompressobj, zlib.error

# ISA-L's level 2: 520 MB/s and 3.75x on the benchmark's transcripts, against zlib's level 1 at
# 130 MB/s and 3.6x. The same bytes give the same blob, so an unchanged file is not stored again.
LEVEL = 2
_OUT = 4 * 1024 * 1024  # plain bytes produced per step: memory stays bounded whatever a blob claims


def compress(data: bytes) -> bytes:
    """`data` as one gzip member, always the same bytes for the same data (no time in the header)."""
    return _compress(data, LEVEL)


def inflate(chunks: Iterable[bytes], budget: int, what: str) -> Iterator[bytes]:
    """The plain bytes of the gzip member arriving in `chunks`, in pieces of at most 4 MB.

    BundleError when it is not one whole gzip member, or would inflate to more than `budget` bytes
    (before producing them)."""
    d = decompressobj(31)  # a gzip container: header, CRC-32 and length checked
    produced = 0
    try:
        for chunk in chunks:
            if d.eof:
                if chunk:
                    raise BundleError(f"{what}: bytes after the end of its compressed stream")
                continue
            data = chunk
            while True:
                want = min(_OUT, budget - produced + 1)
                out = d.decompress(data, want)
                produced += len(out)
                if produced > budget:
                    raise BundleError(f"{what} inflates to more than {budget} bytes")
                if out:
                    yield out
                if d.eof:
                    if d.unused_data:
                        raise BundleError(f"{what}: bytes after the end of its compressed stream")
                    break
                data = d.unconsumed_tail
                if not data and len(out) < want:
                    break  # all of this chunk taken in: the next one goes on
        if not d.eof:
            raise BundleError(f"{what}: its compressed stream is cut short")
    except (zlib.error, INFLATE_ERROR) as e:
        raise BundleError(f"{what} is not a valid gzip stream ({e})") from e
