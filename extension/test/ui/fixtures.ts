// Two fixture devices sharing a local bare Git repository, made with the Python test helpers
// (tests/support/devices.py): alpha holds sessions in two projects, beta holds none yet.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

export interface FixtureSession {
  id: string;
  title: string;
  projectKey: string;
  transcript: string;
}

export interface FixtureDevice {
  name: string;
  home: string;
  projects: string;
  claude: string;
}

export interface Fixtures {
  remote: string;
  alpha: FixtureDevice;
  beta: FixtureDevice;
  /** A device never set up: no config.json. */
  gamma: FixtureDevice;
  /** A session of alpha's outside its home and projects root: listed, never uploaded. */
  stray: FixtureSession;
  /** The session the tests move from alpha to beta, and where it must land on beta. */
  moved: FixtureSession & { betaTranscript: string; alphaCwd: string; betaCwd: string };
  sessions: FixtureSession[];
  /** A session in alpha's clone of a local bare "origin" repository that beta has no checkout of (issue #17). */
  billing: RepositorySession;
}

export interface RepositorySession extends FixtureSession {
  /** The repository's short name (the row's label) and identity (its origin, normalized). */
  name: string;
  identity: string;
  /** `transcript` is written outside alpha's ~/.claude: the test copies it to `alphaTranscript` when alpha is to see it. */
  alphaTranscript: string;
  alphaCwd: string;
  /** On beta: the folder to clone into, the clone, where the session lands in it, and another folder to pin. */
  betaParent: string;
  betaClone: string;
  betaTranscript: string;
  betaOther: string;
}

const MAKE_FIXTURES = String.raw`
import json, subprocess, sys
from pathlib import Path
from tests.support.claude_fixture import FixtureSession
from tests.support.devices import Device
from tests.support.repos import git, make_origin
from claude_sync.claude_home import project_folder_name

root = Path(sys.argv[1])
remote = root / "remote.git"
subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(remote)], check=True)
alpha = Device(root / "machines", "alpha", "code", git_url=str(remote))
beta = Device(root / "machines", "beta", "work/projects", git_url=str(remote))
gamma = Device(root / "machines", "gamma", "src")
gamma.paths.config_file.unlink()
for i in range(4):  # more than a few sessions in one project: the group starts collapsed
    gamma.session("tools/cli", day=i + 1).user(f"Small fix number {i + 1}").write()

def story(key, title, day, steps):
    s = alpha.session(key, day=day)
    cwd = alpha.cwd(key)
    s.user(title)
    steps(s, cwd)
    s.title(title)
    return s.write()

login = story("acme/api", "Fix the flaky login test", 3, lambda s, cwd: (
    s.write_tool("tests/test_login.py", "def test_login(frozen_clock):\n    assert login('ada') is not None\n"),
    s.bash(f"cd {cwd} && pytest -q tests/test_login.py", "1 passed"),
    s.assistant(f"Fixed {cwd}/tests/test_login.py: the clock is now frozen."),
))
limits = story("acme/api", "Add rate limiting to the public API", 2, lambda s, cwd: (
    s.write_tool("api/limits.py", "LIMIT = 100\n"),
    s.assistant(f"Added {cwd}/api/limits.py."),
))
dark = story("acme/web", "Dark mode for the settings page", 1, lambda s, cwd: (
    s.write_tool("src/theme.css", ":root { color-scheme: dark; }\n"),
    s.assistant(f"Updated {cwd}/src/theme.css."),
))

stray = FixtureSession(alpha.paths.claude, "/srv/scratch/tool", day=4).user("Try a throw-away tool")
stray.assistant("Done.").title("Try a throw-away tool").write()

# A clone of a local bare "origin" on alpha, with a session in it; beta has no checkout of it.
# The session is written outside alpha's ~/.claude: the test brings it in after alpha's first
# uploads, so the counts of the steps before stay as they are.
origin = make_origin(root, "acme-billing.git")
alpha_clone = alpha.projects / "billing"
git("clone", "-q", str(origin), str(alpha_clone), cwd=root)
billing = FixtureSession(root / "stash-claude", str(alpha_clone), day=5).user("Wire up the billing service")
billing.assistant(f"Added {alpha_clone}/services/billing/api.py.").title("Wire up the billing service").write()
beta_parent = beta.home / "elsewhere"
beta_parent.mkdir()
beta_other = beta.home / "pinned" / "billing"
beta_other.mkdir(parents=True)

def device(d):
    return {"name": d.name, "home": str(d.home), "projects": str(d.projects), "claude": str(d.paths.claude)}

def session(s, key):
    title = next(r["customTitle"] for r in s.records if r.get("type") == "custom-title")
    return {"id": s.session_id, "title": title, "projectKey": key, "transcript": str(s.transcript)}

moved = session(login, "acme/api")
moved.update(
    betaTranscript=str(beta.project_dir("acme/api") / f"{login.session_id}.jsonl"),
    alphaCwd=alpha.cwd("acme/api"),
    betaCwd=beta.cwd("acme/api"),
)
print(json.dumps({
    "remote": str(remote),
    "alpha": device(alpha),
    "beta": device(beta),
    "gamma": device(gamma),
    "stray": session(stray, None),
    "moved": moved,
    "sessions": [session(login, "acme/api"), session(limits, "acme/api"), session(dark, "acme/web")],
    "billing": {
        **session(billing, None),
        "name": "acme-billing",
        "identity": str(origin.parent / "acme-billing"),
        "alphaTranscript": str(alpha.paths.claude / "projects" / billing.transcript.parent.name / billing.transcript.name),
        "alphaCwd": str(alpha_clone),
        "betaParent": str(beta_parent),
        "betaClone": str(beta_parent / "acme-billing"),
        "betaTranscript": str(beta.paths.claude / "projects" / project_folder_name(str(beta_parent / "acme-billing")) / billing.transcript.name),
        "betaOther": str(beta_other),
    },
}))
`;

export function makeFixtures(repo: string, root: string): Fixtures {
  const python = path.join(repo, '.venv', 'bin', 'python');
  const out = execFileSync(python, ['-c', MAKE_FIXTURES, root], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, HOME: root, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', PYTHONPATH: repo },
  });
  return JSON.parse(out) as Fixtures;
}
