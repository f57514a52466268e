import assert from 'node:assert/strict';
import * as os from 'node:os';
import { beforeEach, test } from 'node:test';
import { configValue, expandHome, readSettings, settingValue, writeSetting } from '../../src/settings';
import { config } from './fake-sidecar';
import { fake } from './fake-vscode';

beforeEach(() => fake.reset());

test('a config.json value reads as its setting does: null is empty, numbers stay numbers', () => {
  const c = config({ caBundle: null, hookPullTimeout: 12 });
  assert.equal(configValue(c, 'caBundle'), '');
  assert.equal(configValue(c, 'hookPullTimeout'), 12);
  assert.equal(configValue(null, 'gitBranch'), 'main');
});

test('a setting written with its default value is removed, so the Settings editor shows it as unset', async () => {
  await writeSetting('gitBranch', 'sessions');
  assert.equal(settingValue('gitBranch'), 'sessions');
  await writeSetting('gitBranch', 'main');
  assert.equal(fake.settings.get('claudeSyncSessions.gitBranch')?.globalValue, undefined);
  assert.equal(settingValue('gitBranch'), 'main');
});

test('readSettings gives the extension-only settings with their defaults', () => {
  assert.deepEqual(readSettings(), { autoRefreshOnFocus: true, pythonPath: '' });
});

test('~ is expanded only at the start of a path', () => {
  assert.equal(expandHome('~'), os.homedir());
  assert.equal(expandHome('/a/~/b'), '/a/~/b');
});
