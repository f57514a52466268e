import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { SidecarUnavailable } from '../../src/errors';
import { checkImportable, findPython, interpreterKey, sidecarLaunch, type KnownPython } from '../../src/python';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-sync-python-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A stand-in interpreter that answers the version probe with `version`. */
function fakePython(name: string, version: string): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, `#!/bin/sh\necho ${version}\n`, { mode: 0o755 });
  return p;
}

function extensionRoot(name: string, abis: string[]): string {
  const root = path.join(tmp, name);
  for (const d of ['common', ...abis]) fs.mkdirSync(path.join(root, 'extension', 'bundled', 'libs', d), { recursive: true });
  return root;
}

describe('finding the interpreter', () => {
  test('the pythonPath setting wins, and only it is tried', async () => {
    const py = fakePython('py312', '3.12');
    assert.deepEqual(await findPython(py, tmp, { PATH: process.env.PATH }), { command: py, version: [3, 12] });
  });

  test('a pythonPath that cannot run is reported with a hint to fix the setting', async () => {
    await assert.rejects(findPython(path.join(tmp, 'missing-python'), tmp, { PATH: process.env.PATH }), (e: unknown) => {
      assert.ok(e instanceof SidecarUnavailable);
      assert.match(e.message, /missing-python: not found/);
      assert.match(e.message, /fix the setting claudeSyncSessions.pythonPath/);
      return true;
    });
  });

  test('a Python older than 3.10 is refused with its version', async () => {
    const old = fakePython('py38', '3.8');
    await assert.rejects(findPython(old, tmp, { PATH: process.env.PATH }), /no Python 3.10\+ found \(.*py38 is 3.8\)/);
  });

  test('without the setting, $CLAUDE_SYNC_PYTHON comes before python3', async () => {
    const py = fakePython('py311', '3.11');
    const found = await findPython('', tmp, { PATH: process.env.PATH, CLAUDE_SYNC_PYTHON: py });
    assert.equal(found.command, py);
  });

  test('without the setting or the variable, the python3 on PATH is used', async () => {
    const found = await findPython('', tmp, { PATH: process.env.PATH });
    assert.equal(found.command, 'python3');
    assert.ok(found.version[0] === 3 && found.version[1] >= 10);
  });
});

describe('remembering the interpreter\'s version', () => {
  /** A stand-in interpreter that counts how often it is asked its version. */
  function countingPython(name: string, version: string): { path: string; runs: () => number } {
    const p = path.join(tmp, name);
    const log = `${p}.runs`;
    fs.writeFileSync(p, `#!/bin/sh\necho x >> ${log}\necho ${version}\n`, { mode: 0o755 });
    return { path: p, runs: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').length - 1 : 0) };
  }

  function memory(): KnownPython & { kept: ReturnType<KnownPython['get']> } {
    const m = {
      kept: undefined as ReturnType<KnownPython['get']>,
      get: () => m.kept,
      set: (key: string, version: [number, number]) => void (m.kept = { key, version }),
      forget: () => void (m.kept = undefined),
    };
    return m;
  }

  test('the same interpreter file is not asked again at the next start', async () => {
    const py = countingPython('remembered', '3.12');
    const known = memory();
    assert.deepEqual(await findPython(py.path, tmp, { PATH: process.env.PATH }, known), { command: py.path, version: [3, 12] });
    assert.deepEqual(await findPython(py.path, tmp, { PATH: process.env.PATH }, known), { command: py.path, version: [3, 12] });
    assert.equal(py.runs(), 1);
  });

  test('a bare name is found on PATH, through its symlink', async () => {
    const py = countingPython('py-target', '3.11');
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.symlinkSync(py.path, path.join(bin, 'python3'));
    assert.match(interpreterKey('python3', { PATH: `/nonexistent:${bin}` }) ?? '', new RegExp(`^${py.path}:`));
    const known = memory();
    await findPython('python3', tmp, { PATH: bin }, known);
    await findPython('python3', tmp, { PATH: bin }, known);
    assert.equal(py.runs(), 1);
    assert.equal(interpreterKey('python3', { PATH: '/nonexistent' }), undefined);
  });

  test('an interpreter replaced at the same path is asked again', async () => {
    const py = countingPython('replaced', '3.11');
    const known = memory();
    await findPython(py.path, tmp, { PATH: process.env.PATH }, known);
    fs.writeFileSync(py.path, `#!/bin/sh\necho x >> ${py.path}.runs\necho 3.9\n`, { mode: 0o755 });
    await assert.rejects(findPython(py.path, tmp, { PATH: process.env.PATH }, known), /replaced is 3.9/);
    assert.equal(py.runs(), 2);
  });
});

describe('launching the sidecar', () => {
  test('a packaged extension puts its bundled libraries for that Python version on PYTHONPATH', () => {
    const root = extensionRoot('packaged', ['cp311', 'cp312']);
    const launch = sidecarLaunch({ command: 'python3', version: [3, 12] }, root, { PATH: '/usr/bin', PYTHONPATH: '/user/lib' });
    const libs = path.join(root, 'extension', 'bundled', 'libs');
    assert.deepEqual(launch.args, ['-m', 'claude_sync', 'lsp']);
    assert.equal(launch.env.PYTHONPATH, [path.join(libs, 'cp312'), path.join(libs, 'common'), '/user/lib'].join(path.delimiter));
    assert.equal(launch.cwd, path.join(libs, 'common'));
    assert.equal(launch.env.PATH, '/usr/bin');
  });

  test('a packaged extension without libraries for that Python names the versions it carries', () => {
    const root = extensionRoot('packaged-old', ['cp310', 'cp311']);
    assert.throws(() => sidecarLaunch({ command: 'python3', version: [3, 9] }, root, {}), /Python 3.9, but this package carries libraries for Python 3.10, 3.11/);
  });

  test('from source, the interpreter runs in the repository with the environment as is', () => {
    const root = path.join(tmp, 'source');
    fs.mkdirSync(root, { recursive: true });
    const launch = sidecarLaunch({ command: 'python3', version: [3, 11] }, root, { PYTHONPATH: '/x' });
    assert.equal(launch.cwd, root);
    assert.equal(launch.env.PYTHONPATH, '/x');
  });

  test('an interpreter without claude_sync is reported before the sidecar is started', async () => {
    const launch = sidecarLaunch({ command: 'python3', version: [3, 11] }, tmp, { PATH: process.env.PATH });
    await assert.rejects(checkImportable(launch), /cannot import claude_sync's sidecar \(.*No module named 'claude_sync'/);
  });
});
