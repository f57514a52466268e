"""A PostgreSQL replica's folder for uploads in flight: its own, and swept once its replica is gone.

A replica killed -9 mid-upload left its folder (and the upload) in TMPDIR for good; every restart
added one. Each folder is now locked by its replica for as long as the process lives, and a
replica starting removes the folders nobody holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from claude_sync.server.pg_storage import UPLOADS_PREFIX, uploads_folder


def folders(base: Path) -> set[Path]:
    return set(base.glob(UPLOADS_PREFIX + "*"))


def test_a_running_replicas_folder_is_kept_and_a_stopped_ones_is_swept(tmp_path: Path) -> None:
    first, first_lock = uploads_folder(tmp_path)
    second, second_lock = uploads_folder(tmp_path)
    assert first != second and folders(tmp_path) == {first, second}
    (first / "upload-1.tar.gz").write_bytes(b"in flight")
    third, third_lock = uploads_folder(tmp_path)
    assert folders(tmp_path) == {first, second, third}  # both still held: nothing swept
    assert (first / "upload-1.tar.gz").read_bytes() == b"in flight"
    assert first_lock is not None
    os.close(first_lock)  # the first replica has stopped
    fourth, fourth_lock = uploads_folder(tmp_path)
    assert folders(tmp_path) == {second, third, fourth}
    for fd in (second_lock, third_lock, fourth_lock):
        assert fd is not None
        os.close(fd)


def test_the_folder_of_a_replica_killed_mid_upload_is_swept_at_the_next_start(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from claude_sync.server.pg_storage import uploads_folder\n"
        "folder, _fd = uploads_folder(Path(sys.argv[1]))\n"
        "(folder / 'upload-x.tar.gz').write_bytes(b'half a bundle')\n"
        "print(folder, flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent
    )
    try:
        assert proc.stdout is not None
        left = Path(proc.stdout.readline().strip())
        mine, lock = uploads_folder(tmp_path)
        assert left in folders(tmp_path)  # alive: kept
        if lock is not None:
            os.close(lock)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    again, lock = uploads_folder(tmp_path)
    assert folders(tmp_path) == {again}  # the killed one's folder and upload, and my closed one, are gone
    assert lock is not None
    os.close(lock)


def test_folders_it_did_not_make_are_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "claude-sync-uploads-abc"  # an older server's, perhaps still running
    other.mkdir()
    (other / "upload-1.tar.gz").write_bytes(b"x")
    folder, lock = uploads_folder(tmp_path)
    assert other.exists() and (other / "upload-1.tar.gz").exists() and folder.exists()
    assert lock is not None
    os.close(lock)
