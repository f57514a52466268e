process.env.TZ = 'UTC';
import assert from 'node:assert/strict';
import { beforeEach, describe, mock, test } from 'node:test';
import { Method } from '../../src/protocol';
import {
  LocalProjectItem,
  LocalSessionItem,
  LocalSessionsProvider,
  RemoteBundlesProvider,
  RemoteProjectItem,
  RemoteSessionItem,
  REFRESH_DELAY_MS,
  type LocalNode,
  type RemoteNode,
} from '../../src/views';
import { MarkdownString, TreeItemCollapsibleState, fake, window } from './fake-vscode';
import { FakeSidecar, RpcError, group, remoteEntry, session } from './fake-sidecar';
import { SyncDecorations } from '../../src/decorations';
import { marked } from 'marked';

/** A row's hover as VS Code gets it: a session row's through the provider's resolveTreeItem. */
const tooltip = (item: LocalNode | RemoteNode): string => {
  const resolved = item instanceof LocalProjectItem || item instanceof LocalSessionItem
    ? new LocalSessionsProvider(new FakeSidecar()).resolveTreeItem(item, item)
    : new RemoteBundlesProvider(new FakeSidecar()).resolveTreeItem(item, item);
  return resolved.tooltip instanceof MarkdownString ? resolved.tooltip.value : String(resolved.tooltip);
};

describe('Local Sessions view', () => {
  beforeEach(() => fake.reset());

  test('shows one expanded node per project with its sessions under it', async () => {
    const a = session({ sessionId: 'aaaaaaaa-0000-0000-0000-000000000001', title: 'Fix the flaky login test' });
    const b = session({ sessionId: 'aaaaaaaa-0000-0000-0000-000000000002', title: 'Add rate limiting' });
    const c = session({ sessionId: 'bbbbbbbb-0000-0000-0000-000000000003', projectKey: 'acme/web', cwd: '/home/alpha/code/acme/web', title: 'Dark mode' });
    const sidecar = new FakeSidecar().on(Method.listLocal, () => ({ groups: [group([a, b]), group([c])] }));
    const provider = new LocalSessionsProvider(sidecar);

    const roots = await provider.getChildren();
    assert.deepEqual(roots.map((r) => r.label), ['acme/api', 'acme/web']);
    assert.ok(roots.every((r) => r instanceof LocalProjectItem && r.collapsibleState === TreeItemCollapsibleState.Expanded));
    assert.equal(roots[0].description, '2 sessions');
    assert.equal(roots[0].contextValue, 'localProject');

    const children = await provider.getChildren(roots[0]);
    assert.deepEqual(children.map((s) => s.label), ['Fix the flaky login test', 'Add rate limiting']);
    assert.ok(children.every((s) => s instanceof LocalSessionItem && s.contextValue === 'localSession'));
  });

  test('a session shows last activity and size, and its tooltip the session id and path', async () => {
    const s = session();
    const provider = new LocalSessionsProvider(new FakeSidecar().on(Method.listLocal, () => ({ groups: [group([s])] })));
    const [project] = await provider.getChildren();
    const [item] = await provider.getChildren(project);

    assert.equal(item.description, '2026-11-01 10:42 · 2.5 KB');
    assert.match(tooltip(item), new RegExp(s.sessionId));
    assert.ok(tooltip(item).includes(s.transcript));
    assert.match(tooltip(item), /12 messages/);
    assert.doesNotMatch(tooltip(item), /about/);
  });

  test('a session row\'s hover is built when VS Code asks for it, not with the row', async () => {
    const provider = new LocalSessionsProvider(new FakeSidecar().on(Method.listLocal, () => ({ groups: [group([session()])] })));
    const [project] = await provider.getChildren();
    const [item] = await provider.getChildren(project);

    assert.equal(item.tooltip, undefined);
    assert.ok(provider.resolveTreeItem(item, item).tooltip instanceof MarkdownString);
    assert.ok(project.tooltip, 'a project row keeps its plain tooltip');
  });

  test('an estimated message count says so', async () => {
    const s = session({ messageCount: 1200, messageCountExact: false });
    const provider = new LocalSessionsProvider(new FakeSidecar().on(Method.listLocal, () => ({ groups: [group([s])] })));
    const [project] = await provider.getChildren();
    const [item] = await provider.getChildren(project);

    assert.match(tooltip(item), /about 1200 messages/);
  });

  test('a project outside the projects root has no upload action and says why', async () => {
    const s = session({ projectKey: null, portable: false, cwd: '/opt/elsewhere', reason: 'outside the projects root /home/alpha/code' });
    const provider = new LocalSessionsProvider(new FakeSidecar().on(Method.listLocal, () => ({ groups: [group([s])] })));
    const [project] = await provider.getChildren();
    const [item] = await provider.getChildren(project);

    assert.equal(project.label, '/opt/elsewhere');
    assert.equal(project.contextValue, 'localProject.notPortable');
    assert.equal(item.contextValue, 'localSession.notPortable');
    assert.match(tooltip(item), /Not portable: outside the projects root/);
  });

  test('a listing error becomes the view message instead of a thrown error', async () => {
    const sidecar = new FakeSidecar().on(Method.listLocal, () => {
      throw new RpcError(-32001, 'not configured yet: run claude-sync configure', { code: 'config_error' });
    });
    const provider = new LocalSessionsProvider(sidecar);
    const view = window.createTreeView('claudeSync.localSessions', {});
    provider.attach(view as any);

    assert.deepEqual(await provider.getChildren(), []);
    assert.equal(view.message, 'Could not list local sessions: not configured yet: run claude-sync configure');
  });

  test('the view description counts the sessions, and refreshes asked for together reload once', async () => {
    let groups = [group([session()])];
    const sidecar = new FakeSidecar().on(Method.listLocal, () => ({ groups }));
    const provider = new LocalSessionsProvider(sidecar);
    const view = window.createTreeView('claudeSync.localSessions', {});
    provider.attach(view as any);
    let fired = 0;
    provider.onDidChangeTreeData(() => fired++);

    await provider.getChildren();
    assert.equal(view.description, '1 session');
    groups = [];
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      provider.refresh();
      provider.refresh();
      assert.equal(fired, 0);
      mock.timers.tick(REFRESH_DELAY_MS);
    } finally {
      mock.timers.reset();
    }
    assert.equal(fired, 1);
    assert.deepEqual(await provider.getChildren(), []);
    assert.equal(view.description, undefined);
    assert.equal(sidecar.callsTo(Method.listLocal).length, 2);
  });
});

describe('Remote Bundles view', () => {
  beforeEach(() => fake.reset());

  test('groups bundles by project, newest first, with the device each came from', async () => {
    const older = remoteEntry({ sessionId: 'r1', title: 'Older', lastModified: '2026-11-01T09:00:00Z', device: 'alpha' });
    const newer = remoteEntry({ sessionId: 'r2', title: 'Newer', lastModified: '2026-11-02T09:00:00Z', device: 'gamma' });
    const web = remoteEntry({ sessionId: 'r3', title: 'Web', projectKey: 'acme/web' });
    const provider = new RemoteBundlesProvider(new FakeSidecar().on(Method.listRemote, () => ({ entries: [web, older, newer] })));

    const roots = await provider.getChildren();
    assert.deepEqual(roots.map((r) => r.label), ['acme/api', 'acme/web']);
    assert.ok(roots[0] instanceof RemoteProjectItem && roots[0].contextValue === 'remoteProject');
    const items = await provider.getChildren(roots[0]);
    assert.deepEqual(items.map((i) => i.label), ['Newer', 'Older']);
    assert.ok(items[0] instanceof RemoteSessionItem);
    assert.equal(items[0].contextValue, 'remoteSession');
    assert.equal(items[0].description, 'gamma · 2026-11-02 09:00 · 2.5 KB');
    assert.match(tooltip(items[0]), /Session: `r2`/);
    assert.match(tooltip(items[0]), /Path: `acme\/web`|Path: `acme\/api`/);
  });

  test('an unreachable remote is shown as the view message', async () => {
    const provider = new RemoteBundlesProvider(
      new FakeSidecar().on(Method.listRemote, () => {
        throw new RpcError(-32002, 'git fetch failed: repository not found', {
          code: 'backend_error',
          remedies: [{ id: 'changeUrl', title: 'Change URL', backend: 'git' }, { id: 'showDetails', title: 'Show Details' }],
        });
      }),
    );
    const view = window.createTreeView('claudeSync.remoteBundles', {});
    provider.attach(view as any);
    assert.deepEqual(await provider.getChildren(), []);
    assert.equal(view.message, 'Could not list remote bundles: git fetch failed: repository not found');
    // Offered once with its remedies, not again at each refresh while it lasts.
    await provider.getChildren();
    assert.deepEqual(fake.messages, [{ severity: 'error', text: view.message, items: ['Change URL', 'Show Details'] }]);
  });

  test('names the remote and when it was last fetched; an unset remote leaves the view to its welcome', async () => {
    const listing = {
      configured: true,
      remote: { backend: 'git', url: '/srv/s.git', branch: 'main', label: 'Git (main) · /srv/s.git' },
      fetchedAt: '2026-11-01T10:42:00+00:00',
      entries: [remoteEntry()],
    };
    const provider = new RemoteBundlesProvider(new FakeSidecar().on(Method.listRemote, () => listing));
    const view = window.createTreeView('claudeSync.remoteBundles', {});
    provider.attach(view as any);
    await provider.getChildren();
    assert.match(view.description ?? '', /^Git \(main\) · \/srv\/s\.git · fetched 2026-11-01 \d\d:42 · 1 session$/);

    const none = new RemoteBundlesProvider(new FakeSidecar().on(Method.listRemote, () => ({ configured: false, remote: null, fetchedAt: null, entries: [] })));
    none.attach(view as any);
    assert.deepEqual(await none.getChildren(), []);
    assert.equal(view.message, undefined);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(fake.executed.filter((c) => c.command === 'setContext').at(-1)?.args, ['claudeSync.remoteConfigured', false]);
  });
});

describe('sync states as the sidecar words them', () => {
  beforeEach(() => fake.reset());

  const look = (state: any, label: string, badge: string) => ({ state, label, icon: 'arrow-up', color: 'gitDecoration.modifiedResourceForeground', badge });

  test('a session row shows its state first, its icon, and a decoration; a big group starts collapsed', async () => {
    const changed = session({ sync: look('changedHere', 'changed here', 'M'), sizeText: '2.5 KB' });
    const others = [1, 2, 3].map((i) => session({ sessionId: `${i}`.repeat(8) + '-2222-3333-4444-555555555555' }));
    const listing = {
      configured: true,
      groups: [group([changed, ...others], { collapsed: true, sync: look('changedHere', '1 to upload', 'M') })],
      toUpload: [changed.sessionId],
      toDownload: [],
    };
    const provider = new LocalSessionsProvider(new FakeSidecar().on(Method.listLocal, () => listing));
    const view = window.createTreeView('claudeSync.localSessions', {});
    provider.attach(view as any);
    const [project] = await provider.getChildren();
    assert.equal(project.collapsibleState, TreeItemCollapsibleState.Collapsed);
    assert.equal(project.description, '4 sessions · 1 to upload');
    const [item] = (await provider.getChildren(project)) as LocalSessionItem[];
    assert.match(String(item.description), /^changed here · \d{4}-\d\d-\d\d \d\d:\d\d · 2\.5 KB$/);
    assert.equal((item.iconPath as any).id, 'arrow-up');
    const decoration = new SyncDecorations().provideFileDecoration(item.resourceUri as any);
    assert.equal(decoration?.badge, 'M');
    assert.equal(item.command?.command, 'claudeSync.openTranscript');
    assert.deepEqual(view.badge, { value: 1, tooltip: '1 session to sync' });
  });

  test('the last listing shows at once from the cache, then the sidecar\'s', async () => {
    const stored = new Map<string, unknown>([['localListing', { configured: true, groups: [group([session({ title: 'cached' })])] }]]);
    const cache = { has: (k: string) => stored.has(k), read: (k: string) => stored.get(k) as any, write: (k: string, v: unknown) => void stored.set(k, v) };
    const fresh = { configured: true, groups: [group([session({ title: 'fresh' })])] };
    const provider = new LocalSessionsProvider(new FakeSidecar().on(Method.listLocal, () => fresh), cache);
    const [first] = await provider.getChildren();
    assert.equal(((await provider.getChildren(first))[0] as LocalSessionItem).session.title, 'cached');
    const [second] = await provider.getChildren();
    assert.equal(((await provider.getChildren(second))[0] as LocalSessionItem).session.title, 'fresh');
    assert.deepEqual(stored.get('localListing'), fresh);
  });
});

describe('hovers', () => {
  // What a remote or a transcript names (a title, a working directory, a project key, a device) is Markdown
  // in a hover: a link there could be followed, an image would be fetched when the row is hovered.
  const hostile = [
    'a`![x](https://evil.example/p.png)`b',
    '``![x](https://evil.example/p.png)``',
    '`',
    ' `x` ',
    'x\n\n![x](https://evil.example/p.png)',
    '[click](https://evil.example) <img src=https://evil.example/q.png>',
    'see https://evil.example/autolink and www.evil.example',
    '*a* _b_ ~~c~~ # d',
  ];
  const html = (item: LocalNode | RemoteNode): string => marked.parse(tooltip(item), { async: false });
  const text = (h: string): string =>
    h.replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

  for (const bad of hostile) {
    test(`shows ${JSON.stringify(bad)} as text, with no link or image`, () => {
      const flat = bad.replace(/\n+/g, ' ');
      const local = new LocalSessionItem(
        session({ title: bad, cwd: `/home/alpha/${bad}`, transcript: `/home/alpha/.claude/${bad}.jsonl`, portable: false, reason: bad }),
      );
      const remote = new RemoteSessionItem(remoteEntry({ title: bad, projectKey: `acme/${bad}`, device: bad }));
      for (const item of [local, remote]) {
        const h = html(item);
        assert.doesNotMatch(h, /<a\b|<img\b|<em>|<del>|<h\d/, h);
      }
      assert.ok(text(html(local)).includes(`/home/alpha/${flat}`), html(local));
      assert.ok(text(html(local)).includes(`Not portable: ${flat}`), html(local));
      assert.ok(text(html(remote)).includes(`acme/${flat}`), html(remote));
      assert.ok(text(html(remote)).includes(`From device: ${flat}`), html(remote));
      assert.ok(text(html(remote)).startsWith(flat.trim()), html(remote));
    });
  }
});
