import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { SidecarUnavailable, describeError, reportError } from '../../src/errors';
import { commands, fake } from './fake-vscode';
import { RpcError } from './fake-sidecar';

const titles = (m: { actions: { title: string }[] }) => m.actions.map((a) => a.title);

describe('errors become messages with their remedies as buttons', () => {
  beforeEach(() => fake.reset());

  test('a device that is not set up is a warning whose button is the remedy the sidecar named', () => {
    const m = describeError(
      new RpcError(-32001, 'This device is not set up for Claude Sync yet.', { code: 'config_error', remedies: [{ id: 'configureDevice', title: 'Configure Device' }] }),
      'Upload failed',
    );
    assert.deepEqual(m, {
      severity: 'warning',
      text: 'Upload failed: This device is not set up for Claude Sync yet.',
      actions: [{ title: 'Configure Device', command: 'claudeSync.configureDevice', args: [] }],
    });
  });

  test('Change URL opens the URL command of the remote it names; Set Token and Show Details their own', () => {
    const m = describeError(
      new RpcError(-32002, 'the sync server refused the token', {
        code: 'backend_error',
        remedies: [{ id: 'changeUrl', title: 'Change URL', backend: 'server' }, { id: 'setToken', title: 'Set Token' }, { id: 'showDetails', title: 'Show Details' }],
      }),
      'Download failed',
    );
    assert.equal(m.severity, 'error');
    assert.deepEqual(m.actions.map((a) => a.command), ['claudeSync.setServerUrl', 'claudeSync.setToken', 'claudeSync.showOutput']);
    const git = describeError(new RpcError(-32002, 'x', { code: 'backend_error', remedies: [{ id: 'changeUrl', title: 'Change URL', backend: 'git' }] }));
    assert.equal(git.actions[0].command, 'claudeSync.setGitRepoUrl');
  });

  test('a held lock is a warning without a button', () => {
    const m = describeError(new RpcError(-32005, 'another sync holds the lock', { code: 'busy', remedies: [] }), 'Upload failed');
    assert.deepEqual([m.severity, titles(m)], ['warning', []]);
  });

  test('a protocol error (a bug) shows its code and offers the details', () => {
    const m = describeError(new RpcError(-32602, 'missing operationId', { code: 'invalid_params' }), 'X');
    assert.equal(m.text, 'X: the sidecar reported an error (-32602): missing operationId');
    assert.deepEqual(titles(m), ['Show Details']);
    assert.equal(describeError(new RpcError(-32603, 'boom'), 'X').text, 'X: the sidecar reported an error (-32603): boom');
  });

  test('a domain error without remedies offers the details', () => {
    assert.deepEqual(titles(describeError(new RpcError(-32003, 'bundle digest mismatch', { code: 'bundle_error' }), 'X')), ['Show Details']);
  });

  test('a sidecar that cannot start offers the Python setting', () => {
    const m = describeError(new SidecarUnavailable('no Python 3.10+ found'));
    assert.equal(m.text, 'Claude Sync could not start its Python sidecar: no Python 3.10+ found');
    assert.deepEqual(titles(m), ['Set Python Path', 'Show Details']);
  });

  test('any other thrown value is shown by its text', () => {
    assert.equal(describeError('boom', 'X').text, 'X: boom');
    assert.equal(describeError(new TypeError('x is undefined'), 'X').text, 'X: x is undefined');
  });

  test('picking the offered action runs its command, and the error is logged once', async () => {
    fake.messageAnswers.push('Set Python Path');
    await reportError(new SidecarUnavailable('python3 is 3.8'));
    assert.deepEqual(fake.executed, [{ command: 'workbench.action.openSettings', args: ['claudeSyncSessions.pythonPath'] }]);
    assert.equal(fake.messages[0].severity, 'error');
    const lines = fake.channels.flatMap((c) => c.lines);
    assert.equal(lines.filter((l) => l.includes('python3 is 3.8')).length, lines.length ? 1 : 0);
  });

  test('reporting never throws, even when showing the message fails', async () => {
    const original = commands.executeCommand;
    commands.executeCommand = () => Promise.reject(new Error('no such command'));
    try {
      fake.messageAnswers.push('Show Details');
      await assert.doesNotReject(reportError(new Error('x')));
    } finally {
      commands.executeCommand = original;
    }
  });
});
