import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { SidecarUnavailable, describeError, reportError } from '../../src/errors';
import { commands, fake } from './fake-vscode';
import { RpcError } from './fake-sidecar';

describe('errors become messages', () => {
  beforeEach(() => fake.reset());

  test('a missing configuration is a warning that offers Configure Device', () => {
    const m = describeError(new RpcError(-32001, 'not configured yet', { code: 'config_error' }), 'Upload failed');
    assert.deepEqual(m, { severity: 'warning', text: 'Upload failed: not configured yet', actions: ['Configure Device'] });
  });

  test('a configuration error about the remote offers the remote settings', () => {
    const m = describeError(new RpcError(-32001, 'no git URL configured', { code: 'config_error' }));
    assert.deepEqual(m.actions, ['Set Git Repository URL', 'Set Server URL']);
  });

  test('an unreachable remote says so and points to the output', () => {
    const m = describeError(new RpcError(-32002, 'connection refused', { code: 'backend_error' }), 'Download failed');
    assert.deepEqual(m, {
      severity: 'error',
      text: 'Download failed: the remote could not be reached or refused: connection refused',
      actions: ['Show Output'],
    });
  });

  test('a held lock asks to try again, without a button', () => {
    const m = describeError(new RpcError(-32005, 'sync.lock is held by pid 42', { code: 'busy' }), 'Upload failed');
    assert.equal(m.severity, 'warning');
    assert.match(m.text, /another sync is running, try again/);
    assert.deepEqual(m.actions, []);
  });

  test('a missing session and a bad bundle are shown by their message', () => {
    assert.equal(describeError(new RpcError(-32004, 'no session abc', { code: 'not_found' }), 'X').text, 'X: no session abc');
    assert.deepEqual(describeError(new RpcError(-32003, 'bundle digest mismatch', { code: 'bundle_error' }), 'X'), {
      severity: 'error',
      text: 'X: bundle digest mismatch',
      actions: ['Show Output'],
    });
  });

  test('a protocol error (a bug) shows its code and points to the output', () => {
    const m = describeError(new RpcError(-32602, 'missing operationId', { code: 'invalid_params' }), 'X');
    assert.equal(m.text, 'X: the sidecar reported an error (-32602): missing operationId');
  });

  test("an unreadable settings.json is an error about that file, not about the device's configuration", () => {
    const m = describeError(new RpcError(-32001, '~/.claude/settings.json is not valid JSON', { code: 'settings_error' }), 'Could not install the hooks');
    assert.deepEqual(m, { severity: 'error', text: 'Could not install the hooks: ~/.claude/settings.json is not valid JSON', actions: ['Show Output'] });
  });

  test('without data.code the JSON-RPC code tells the kind', () => {
    assert.deepEqual(describeError(new RpcError(-32001, 'not configured'), 'X').actions, ['Configure Device']);
    assert.equal(describeError(new RpcError(-32603, 'boom'), 'X').text, 'X: the sidecar reported an error (-32603): boom');
  });

  test('a sidecar that cannot start offers the Python setting', () => {
    const m = describeError(new SidecarUnavailable('no Python 3.10+ found'));
    assert.equal(m.text, 'Claude Sync could not start its Python sidecar: no Python 3.10+ found');
    assert.deepEqual(m.actions, ['Set Python Path', 'Show Output']);
  });

  test('any other thrown value is shown by its text', () => {
    assert.equal(describeError('boom', 'X').text, 'X: boom');
    assert.equal(describeError(new TypeError('x is undefined'), 'X').text, 'X: x is undefined');
  });

  test('picking the offered action runs its command', async () => {
    fake.messageAnswers.push('Set Python Path');
    await reportError(new SidecarUnavailable('python3 is 3.8'));
    assert.deepEqual(fake.executed, [{ command: 'workbench.action.openSettings', args: ['claudeSyncSessions.pythonPath'] }]);
    assert.equal(fake.messages[0].severity, 'error');
  });

  test('reporting never throws, even when showing the message fails', async () => {
    const original = commands.executeCommand;
    commands.executeCommand = () => Promise.reject(new Error('no such command'));
    try {
      fake.messageAnswers.push('Show Output');
      await assert.doesNotReject(reportError(new Error('x')));
    } finally {
      commands.executeCommand = original;
    }
  });
});
