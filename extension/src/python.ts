// Finding the interpreter that runs the sidecar, and the environment it runs in. A packaged
// extension carries claude_sync and its dependencies in extension/bundled/libs (installed with
// `pip --target`, one folder per CPython minor version for the compiled ones): nothing is
// installed into the user's Python.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { SidecarUnavailable } from './errors';

export const MIN_PYTHON: [number, number] = [3, 10];

export interface PythonInfo {
  command: string;
  version: [number, number];
}

export interface SidecarLaunch {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

const VERSION_PROBE = 'import sys; print("%d.%d" % sys.version_info[:2])';

function run(command: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, cwd, timeout: 30_000, windowsHide: true }, (err, stdout, stderr) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        const detail = missing ? 'not found' : (stderr || '').trim().split('\n').slice(-1)[0] || err.message;
        reject(new Error(detail));
      } else {
        resolve(stdout.trim());
      }
    });
  });
}

export async function pythonVersion(command: string, env: NodeJS.ProcessEnv = process.env): Promise<[number, number]> {
  const out = await run(command, ['-c', VERSION_PROBE], env);
  const m = /^(\d+)\.(\d+)$/.exec(out);
  if (!m) throw new Error(`unexpected answer to a version check: ${out}`);
  return [Number(m[1]), Number(m[2])];
}

/**
 * The version of the interpreter last found, remembered between starts (a file beside the cached listings)
 * under the file it ran and that file's size and time: a start with the same interpreter spawns the
 * sidecar at once instead of starting the interpreter a first time only to ask its version.
 */
export interface KnownPython {
  get(): { key: string; version: [number, number] } | undefined;
  set(key: string, version: [number, number]): void;
  forget(): void;
}

/** The interpreter's file (through symlinks, found on PATH for a bare name) with its size and time; undefined if not found. */
export function interpreterKey(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (process.platform === 'win32') return undefined; // PATHEXT and the launcher: always asked
  const dirs = command.includes('/') ? [''] : (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    try {
      const real = fs.realpathSync(dir ? path.join(dir, command) : command);
      const st = fs.statSync(real);
      if (st.isFile() && st.mode & 0o111) return `${real}:${st.size}:${st.mtimeMs}`;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

function atLeast(v: [number, number], min: [number, number]): boolean {
  return v[0] > min[0] || (v[0] === min[0] && v[1] >= min[1]);
}

/**
 * The interpreter: the `pythonPath` setting if set (and then only it), else $CLAUDE_SYNC_PYTHON,
 * else a development checkout's .venv, else python3, else python.
 */
export async function findPython(
  setting: string,
  extensionRoot: string,
  env: NodeJS.ProcessEnv = process.env,
  known?: KnownPython,
): Promise<PythonInfo> {
  const candidates: string[] = [];
  if (setting) {
    candidates.push(setting);
  } else {
    if (env.CLAUDE_SYNC_PYTHON) candidates.push(env.CLAUDE_SYNC_PYTHON);
    const venv = path.join(extensionRoot, '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
    if (!hasBundledLibs(extensionRoot) && fs.existsSync(venv)) candidates.push(venv);
    candidates.push('python3', 'python');
  }
  const tried: string[] = [];
  const last = known?.get(); // one read of the remembered interpreter, whichever candidate it is
  for (const command of candidates) {
    try {
      const key = known ? interpreterKey(command, env) : undefined;
      const seen = key !== undefined && last?.key === key ? last.version : undefined;
      const version = seen ?? (await pythonVersion(command, env));
      if (atLeast(version, MIN_PYTHON)) {
        if (key !== undefined && !seen) known?.set(key, version);
        return { command, version };
      }
      tried.push(`${command} is ${version.join('.')}`);
    } catch (e) {
      tried.push(`${command}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const hint = setting ? 'fix the setting claudeSyncSessions.pythonPath' : 'install Python 3.10+ or set claudeSyncSessions.pythonPath';
  throw new SidecarUnavailable(`no Python ${MIN_PYTHON.join('.')}+ found (${tried.join('; ')}); ${hint}`);
}

export function bundledLibsDir(extensionRoot: string): string {
  return path.join(extensionRoot, 'extension', 'bundled', 'libs');
}

export function hasBundledLibs(extensionRoot: string): boolean {
  return fs.existsSync(path.join(bundledLibsDir(extensionRoot), 'common'));
}

/** How to start `python -m claude_sync lsp`, with PYTHONPATH on the bundled libraries when packaged. */
export function sidecarLaunch(python: PythonInfo, extensionRoot: string, env: NodeJS.ProcessEnv = process.env): SidecarLaunch {
  const launchEnv: NodeJS.ProcessEnv = { ...env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' };
  let cwd = extensionRoot;
  if (hasBundledLibs(extensionRoot)) {
    const libs = bundledLibsDir(extensionRoot);
    const abi = path.join(libs, `cp${python.version[0]}${python.version[1]}`);
    if (!fs.existsSync(abi)) {
      const carried = fs
        .readdirSync(libs)
        .filter((d) => /^cp\d+$/.test(d))
        .map((d) => `${d[2]}.${d.slice(3)}`)
        .join(', ');
      throw new SidecarUnavailable(
        `${python.command} is Python ${python.version.join('.')}, but this package carries libraries for Python ${carried}; set claudeSyncSessions.pythonPath to one of those`,
      );
    }
    launchEnv.PYTHONPATH = [abi, path.join(libs, 'common'), env.PYTHONPATH].filter(Boolean).join(path.delimiter);
    launchEnv.PYTHONNOUSERSITE = '1';
    // `-m` puts the working directory first on sys.path: use one that holds nothing else.
    cwd = path.join(libs, 'common');
  }
  return { command: python.command, args: ['-m', 'claude_sync', 'lsp'], cwd, env: launchEnv };
}

// Finds the sidecar and the libraries it starts with, without importing them: importing them takes
// as long as the sidecar's own start (3 s on a busy machine), which the views would wait for twice.
const FIND_SIDECAR = [
  'import importlib.util as u',
  'missing = [m for m in ("claude_sync.lsp", "pygls", "lsprotocol", "pydantic") if u.find_spec(m) is None]',
  'if missing: raise SystemExit("No module named " + ", ".join(repr(m) for m in missing))',
].join('\n');

/** Fails with the interpreter's own words when claude_sync's sidecar cannot be found. */
export async function checkImportable(launch: SidecarLaunch): Promise<void> {
  try {
    await run(launch.command, ['-c', FIND_SIDECAR], launch.env, launch.cwd);
  } catch (e) {
    throw new SidecarUnavailable(
      `${launch.command} cannot import claude_sync's sidecar (${e instanceof Error ? e.message : String(e)}); ` +
        'run `pip install -e .` in the repository, or use a packaged extension',
    );
  }
}
