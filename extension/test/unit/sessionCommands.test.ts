import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { Method, type LocalListing, type RemoteListing } from '../../src/protocol';
import { SessionCommands } from '../../src/sessionCommands';
import { TranscriptDocuments, refOf } from '../../src/transcripts';
import { LocalSessionItem, RemoteSessionItem } from '../../src/views';
import { Uri, env, fake } from './fake-vscode';
import { FakeSidecar, remoteEntry, session, summary } from './fake-sidecar';

function setup(sidecar: FakeSidecar, listings: { local?: LocalListing; remote?: RemoteListing } = {}) {
  const syncs: { action: string; selection: unknown }[] = [];
  const view = () => ({ query: '', last: undefined as any, refreshed: 0, refresh() { this.refreshed++; }, selected: () => undefined });
  const local = Object.assign(view(), { last: listings.local });
  const remote = Object.assign(view(), { last: listings.remote });
  const commands = new SessionCommands({
    sidecar,
    transcripts: new TranscriptDocuments(sidecar),
    local,
    remote,
    sync: async (action, selection) => {
      syncs.push({ action, selection });
      return summary(action, [{ sessionId: 'x', status: 'done', reason: '', projectKey: 'acme/api', title: 't' }]);
    },
  });
  return { commands, syncs, local, remote };
}

const plan = (over: object = {}) => ({ sessionId: session().sessionId, local: true, cwd: '/home/alpha/code/acme/api', command: `claude --resume ${session().sessionId}`, warnings: [], ...over });

describe('session actions', () => {
  beforeEach(() => fake.reset());

  test('Resume in Terminal runs claude --resume in the project folder', async () => {
    const { commands } = setup(new FakeSidecar().on(Method.resumePlan, () => plan()));
    await commands.resume(new LocalSessionItem(session()));
    assert.deepEqual(fake.terminals, [{ name: 'Claude: Fix the flaky login test', cwd: '/home/alpha/code/acme/api', sent: [`claude --resume ${session().sessionId}`], shown: true }]);
  });

  test('a checkout on another branch is said before resuming, and nothing runs unless confirmed', async () => {
    const sidecar = new FakeSidecar().on(Method.resumePlan, () => plan({ warnings: ['the checkout is on branch feature, but the session ran on main'] }));
    const { commands } = setup(sidecar);
    await commands.resume(new LocalSessionItem(session()));
    assert.equal(fake.terminals.length, 0);
    assert.match(fake.messages[0].text, /The checkout is on branch feature, but the session ran on main\./);
    fake.modalAnswers.push('Resume Anyway');
    await commands.resume(new LocalSessionItem(session()));
    assert.equal(fake.terminals.length, 1);
  });

  test('a session only on the remote is downloaded, then resumed', async () => {
    let downloaded = false;
    const sidecar = new FakeSidecar().on(Method.resumePlan, () => (downloaded ? plan() : plan({ local: false, cwd: null, command: null })));
    const { commands, syncs } = setup(sidecar);
    const item = new RemoteSessionItem(remoteEntry());
    (commands as any).deps.sync = async (action: string, selection: unknown) => {
      syncs.push({ action, selection });
      downloaded = true;
      return summary('pull', []);
    };
    await commands.resume(item);
    assert.deepEqual(syncs, [{ action: 'pull', selection: { sessionIds: [remoteEntry().sessionId] } }]);
    assert.equal(fake.terminals[0].sent[0], `claude --resume ${session().sessionId}`);
  });

  test('Copy Session ID puts the id on the clipboard', async () => {
    const { commands } = setup(new FakeSidecar());
    await commands.copySessionId(new LocalSessionItem(session()));
    assert.equal(env.clipboard.text, session().sessionId);
  });

  test('Open Transcript opens a read-only Markdown document of this device copy; Next Part the one after', async () => {
    const sidecar = new FakeSidecar().on(Method.transcript, (p) => ({ sessionId: p.sessionId, side: p.side, markdown: '# t', part: p.part, more: true }));
    const { commands } = setup(sidecar);
    await commands.openTranscript(new LocalSessionItem(session()));
    const opened = Uri.from({ scheme: 'claude-sync-transcript', path: '/x.md', query: fake.opened[0].split('?')[1] });
    assert.deepEqual(refOf(opened as any), { sessionId: session().sessionId, side: 'local', part: 0, title: 'Fix the flaky login test' });
    await commands.nextPart(opened as any);
    assert.equal(refOf(Uri.from({ scheme: 'x', path: '/', query: fake.opened[1].split('?')[1] }) as any).part, 1);
  });

  test('Upload Changed and Download New take the sessions the sidecar named', async () => {
    const { commands, syncs } = setup(new FakeSidecar(), {
      local: { configured: true, groups: [], toUpload: ['a', 'b'], toDownload: ['c'] },
      remote: { configured: true, remote: null, fetchedAt: null, entries: [], toDownload: ['c', 'd'] },
    });
    await commands.uploadChanged();
    await commands.downloadNew();
    assert.deepEqual(syncs, [
      { action: 'push', selection: { sessionIds: ['a', 'b'] } },
      { action: 'pull', selection: { sessionIds: ['c', 'd'] } },
    ]);
  });

  test('a filter goes to both views and refreshes them', async () => {
    const { commands, local, remote } = setup(new FakeSidecar());
    fake.inputAnswers.push(' state:changed project:acme ');
    await commands.filter();
    assert.equal(local.query, 'state:changed project:acme');
    assert.equal(remote.query, 'state:changed project:acme');
    assert.ok(local.refreshed && remote.refreshed);
    commands.clearFilter();
    assert.equal(local.query, '');
  });
});
