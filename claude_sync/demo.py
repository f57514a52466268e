"""`claude-sync demo`: move a sample session between two simulated devices, offline.

Everything happens in a temporary folder: two fake home directories with
projects under different roots, and a local bare Git repository as the remote
(the embedded default: nothing to configure). The real ~/.claude is never read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from .claude_home import project_folder_name


def _sample_session(claude_dir: Path, cwd: str, home: str) -> str:
    sid = str(uuid.uuid4())
    pdir = claude_dir / "projects" / project_folder_name(cwd)
    pdir.mkdir(parents=True)
    base = {"isSidechain": False, "userType": "external", "cwd": cwd, "sessionId": sid, "version": "2.1.197", "gitBranch": "main"}
    u1, a1 = str(uuid.uuid4()), str(uuid.uuid4())
    records = [
        {**base, "parentUuid": None, "type": "user", "uuid": u1, "timestamp": "2026-11-26T09:00:00.000Z",
         "message": {"role": "user", "content": f"Add a README to {cwd}"}},
        {**base, "parentUuid": u1, "type": "assistant", "uuid": a1, "timestamp": "2026-11-26T09:00:05.000Z",
         "message": {"role": "assistant", "content": [{"type": "text", "text": f"Created {cwd}/README.md (your home is {home})."}]}},
    ]
    (pdir / f"{sid}.jsonl").write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    return sid


def run_demo(keep: bool = False) -> int:
    root = Path(tempfile.mkdtemp(prefix="claude-sync-demo-"))
    exe = [sys.executable, "-m", "claude_sync"]
    try:
        remote = root / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
        devices = {"laptop": root / "laptop", "desktop": root / "desktop"}
        roots = {"laptop": devices["laptop"] / "code", "desktop": devices["desktop"] / "src" / "projects"}
        for name in devices:
            (roots[name] / "acme" / "api").mkdir(parents=True)
        laptop_cwd = str(roots["laptop"] / "acme" / "api")
        sid = _sample_session(devices["laptop"] / ".claude", laptop_cwd, str(devices["laptop"]))

        def run(device: str, *args: str) -> None:
            env = {**os.environ, "HOME": str(devices[device])}
            env.pop("CLAUDE_CONFIG_DIR", None)
            env.pop("CLAUDE_SYNC_HOME", None)
            print(f"\n$ claude-sync {' '.join(args)}    # on {device}")
            subprocess.run([*exe, *args], env=env, check=True)

        for name in devices:
            run(name, "configure", "--device", name, "--projects-root", str(roots[name]), "--git-url", str(remote))
        run("laptop", "sessions")
        run("laptop", "push", "--all")
        run("desktop", "remote")
        run("desktop", "pull", "--all")
        run("desktop", "sessions")
        desktop_cwd = str(roots["desktop"] / "acme" / "api")
        pulled = devices["desktop"] / ".claude" / "projects" / project_folder_name(desktop_cwd) / f"{sid}.jsonl"
        text = pulled.read_text()
        leaked = str(devices["laptop"]) in text
        print(f"\nThe session now lives at {pulled}")
        print(f"laptop paths left in it: {'YES' if leaked else 'none'}; desktop project path present: {desktop_cwd in text}")
        print(f"On the desktop: cd {desktop_cwd} && claude --resume {sid}")
        return 1 if leaked or desktop_cwd not in text else 0
    finally:
        if keep:
            print(f"(kept {root})")
        else:
            shutil.rmtree(root, ignore_errors=True)
