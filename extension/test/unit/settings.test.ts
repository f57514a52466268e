import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeEach, test } from 'node:test';
import { configureParams, expandHome, readSettings } from '../../src/settings';
import { fake } from './fake-vscode';

beforeEach(() => fake.reset());

test('settings left at their defaults are not pushed to the sidecar', () => {
  fake.setting('claudeSyncSessions.backend', { defaultValue: 'git' });
  assert.deepEqual(configureParams(), {});
});

test('settings set by the user are pushed, trimmed, with ~ expanded in the projects root', () => {
  fake.setting('claudeSyncSessions.backend', { globalValue: 'server' });
  fake.setting('claudeSyncSessions.serverUrl', { workspaceValue: 'https://sync.example.com ' });
  fake.setting('claudeSyncSessions.projectsRoot', { globalValue: '~/code' });
  fake.setting('claudeSyncSessions.autoRefreshOnFocus', { globalValue: false });
  assert.deepEqual(configureParams(), {
    backend: 'server',
    serverUrl: 'https://sync.example.com',
    projectsRoot: path.join(os.homedir(), 'code'),
  });
});

test('readSettings gives every setting with its default', () => {
  assert.deepEqual(readSettings(), {
    backend: 'git',
    gitRepoUrl: '',
    serverUrl: '',
    deviceName: '',
    projectsRoot: '',
    autoRefreshOnFocus: true,
    pythonPath: '',
  });
});

test('~ is expanded only at the start of a path', () => {
  assert.equal(expandHome('~'), os.homedir());
  assert.equal(expandHome('/a/~/b'), '/a/~/b');
});
