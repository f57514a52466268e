import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { setLogChannel } from '../../src/log';
import { Method, type SyncLook } from '../../src/protocol';
import { DELETE, RemovalCommands, deleteChoices } from '../../src/removal';
import { LocalProjectItem, LocalSessionItem, RemoteSessionItem, RemoteBundlesProvider } from '../../src/views';
import { fake, window } from './fake-vscode';
import { FakeSidecar, RpcError, group, remoteEntry, session, summary } from './fake-sidecar';

const look = (state: SyncLook['state'], label: string = state): SyncLook => ({ state, label, icon: 'pass', color: null, badge: '' });

function setup(sidecar: FakeSidecar) {
  setLogChannel(window.createOutputChannel('Claude Sync') as any);
  const local = { refreshed: 0, refresh() { this.refreshed++; }, selected: () => undefined };
  const remote = { refreshed: 0, refresh() { this.refreshed++; }, selected: () => undefined };
  return { removal: new RemovalCommands({ sidecar, local, remote }), local, remote };
}

const deleted = (sessionId: string, reason: string) => ({ sessionId, status: 'done' as const, reason, projectKey: 'acme/api', title: 'Fix the flaky login test' });

describe('Delete', () => {
  beforeEach(() => fake.reset());

  test('a local session is deleted where the user picks, after a confirmation that says what happens', async () => {
    const s = session({ sync: look('synced', 'in sync') });
    const sidecar = new FakeSidecar().on(Method.delete, (p) => ({
      ...summary('delete', [deleted(p.sessionIds[0], 'a tombstone on the remote; moved to the backups (x)')]),
      text: 'Deleted "Fix the flaky login test" (a tombstone on the remote; moved to the backups (x)).',
    }));
    const t = setup(sidecar);
    fake.quickPickAnswers.push('Everywhere');
    fake.modalAnswers.push(DELETE);

    const result = await t.removal.delete(new LocalSessionItem(s));

    assert.equal(result?.done, 1);
    assert.deepEqual(fake.quickPicks[0].labels, ['This device only', 'The remote only', 'Everywhere']);
    assert.deepEqual(sidecar.callsTo(Method.delete), [{ sessionIds: [s.sessionId], where: 'everywhere' }]);
    const [confirm, done] = fake.messages;
    assert.match(confirm.text, /^Delete "Fix the flaky login test" everywhere\?\nThe copy on this device moves into the backups/);
    assert.match(confirm.text, /tombstone/);
    assert.match(confirm.text, /restored with the command claude-sync restore\./);
    assert.deepEqual(confirm.items, [DELETE]);
    assert.deepEqual(done, { severity: 'info', text: 'Claude Sync: Deleted "Fix the flaky login test" (a tombstone on the remote; moved to the backups (x)).', items: [] });
    assert.ok(t.local.refreshed && t.remote.refreshed);
  });

  test('cancelling the picker or the confirmation deletes nothing', async () => {
    const sidecar = new FakeSidecar();
    const t = setup(sidecar);
    const item = new LocalSessionItem(session({ sync: look('synced') }));
    fake.quickPickAnswers.push(undefined);
    await t.removal.delete(item);
    fake.quickPickAnswers.push('This device only');
    fake.modalAnswers.push(undefined);
    await t.removal.delete(item);
    assert.deepEqual(sidecar.callsTo(Method.delete), []);
  });

  test('only the places a session can be are offered', () => {
    assert.deepEqual(deleteChoices(new LocalSessionItem(session({ sync: look('onlyHere') }))), ['local']);
    assert.deepEqual(deleteChoices(new LocalSessionItem(session({ portable: false, reason: 'outside', sync: look('notPortable') }))), ['local']);
    assert.deepEqual(deleteChoices(new RemoteSessionItem(remoteEntry({ sync: look('onlyThere') }))), ['remote']);
    assert.deepEqual(deleteChoices(new RemoteSessionItem(remoteEntry({ sync: look('synced') }))), ['local', 'remote', 'everywhere']);
  });

  test('a remote-only session is deleted on the remote with no picker; a failure is a warning', async () => {
    const e = remoteEntry({ sync: look('onlyThere') });
    const sidecar = new FakeSidecar().on(Method.delete, (p) => ({
      ...summary('delete', [{ ...deleted(p.sessionIds[0], 'the remote refused'), status: 'failed' as const }]),
      text: 'Could not delete "Fix the flaky login test": the remote refused.',
    }));
    const t = setup(sidecar);
    fake.modalAnswers.push(DELETE);
    await t.removal.delete(new RemoteSessionItem(e));
    assert.deepEqual(fake.quickPicks, []);
    assert.deepEqual(sidecar.callsTo(Method.delete), [{ sessionIds: [e.sessionId], where: 'remote' }]);
    assert.match(fake.messages[0].text, /^Delete "Fix the flaky login test" from the remote\?\nA tombstone replaces it/);
    assert.equal(fake.messages[1].severity, 'warning');
  });

  test('a sidecar error is reported with its remedies', async () => {
    const sidecar = new FakeSidecar().on(Method.delete, () => {
      throw new RpcError(-32005, 'another sync is running', { code: 'busy', remedies: [] });
    });
    const t = setup(sidecar);
    fake.modalAnswers.push(DELETE);
    assert.equal(await t.removal.delete(new LocalSessionItem(session({ sync: look('onlyHere') }))), undefined);
    assert.deepEqual(fake.messages.at(-1), { severity: 'warning', text: 'Delete failed: another sync is running', items: [] });
  });

  test('a tombstone on the remote is drawn as deleted, with nothing to open or download', async () => {
    const e = remoteEntry({ status: 'deleted', sync: look('deleted') });
    const provider = new RemoteBundlesProvider(new FakeSidecar().on(Method.listRemote, () => ({ configured: true, remote: null, fetchedAt: null, entries: [e] })));
    const [project] = await provider.getChildren();
    const [row] = await provider.getChildren(project);
    assert.equal(row.contextValue, 'remoteTombstone');
    assert.equal(row.command, undefined);
  });
});

describe('the never-sync list from the tree', () => {
  beforeEach(() => fake.reset());

  const list = (p: any) => ({ projects: p.action === 'add' ? (p.projects ?? []) : [], sessions: p.action === 'add' ? (p.sessions ?? []) : [] });

  test('a session and a project are put on the list by id and by key', async () => {
    const sidecar = new FakeSidecar().on(Method.neverSync, list);
    const t = setup(sidecar);
    const s = session();
    await t.removal.neverSyncSession(new LocalSessionItem(s));
    await t.removal.neverSyncProject(new LocalProjectItem(group([s])));
    assert.deepEqual(sidecar.callsTo(Method.neverSync), [
      { action: 'add', sessions: [s.sessionId] },
      { action: 'add', projects: ['acme/api'] },
    ]);
    assert.match(fake.messages[1].text, /the sessions of acme\/api are not synced any more/);
    assert.ok(t.local.refreshed >= 2);
  });

  test('a never-synced row offers Sync Again, which removes the entry that names it', async () => {
    const sidecar = new FakeSidecar().on(Method.neverSync, list);
    const t = setup(sidecar);
    const byId = session({ neverSyncBy: '11111111-2222-3333-4444-555555555555', sync: look('neverSync', 'not synced by choice') });
    const byPattern = session({ neverSyncBy: 'acme/*', sync: look('neverSync', 'not synced by choice') });
    const rows = [new LocalSessionItem(byId), new LocalSessionItem(byPattern), new LocalProjectItem(group([byPattern], { neverSyncBy: 'acme/*' }))];
    assert.deepEqual(rows.map((r) => r.contextValue), ['localSession.neverSync', 'localSession.neverSync', 'localProject.neverSync']);
    for (const r of rows) await t.removal.syncAgain(r);
    assert.deepEqual(sidecar.callsTo(Method.neverSync), [
      { action: 'remove', sessions: [byId.sessionId] },
      { action: 'remove', projects: ['acme/*'] },
      { action: 'remove', projects: ['acme/*'] },
    ]);
    assert.match(fake.messages[1].text, /the never-sync entry "acme\/\*" is removed, for every project it names/);
  });
});
