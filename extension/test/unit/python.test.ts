import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { SidecarUnavailable } from '../../src/errors';
import { checkImportable, findPython, sidecarLaunch } from '../../src/python';

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
