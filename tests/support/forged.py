"""Bundles as a hostile remote would make them: the client's own checks skipped, checksums right."""

from __future__ import annotations

from claude_sync.format.bundle import Bundle, FileEntry, Manifest, sha256


def forged_bundle(manifest: Manifest, files: dict[str, bytes], binary: frozenset[str] | set[str] = frozenset()) -> Bundle:
    """A bundle whose manifest lists `files` with their true sizes and SHA-256s, whatever the names or bytes."""
    entries = [FileEntry(path=n, size=len(d), sha256=sha256(d), text=n not in binary) for n, d in sorted(files.items())]
    return Bundle(manifest.model_copy(update={"files": entries}), dict(files))
