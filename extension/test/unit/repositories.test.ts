import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { Controller } from '../../src/commands';
import { setLogChannel } from '../../src/log';
import { Method } from '../../src/protocol';
import { HooksStatusBar } from '../../src/statusBar';
import { RemoteBundlesProvider, RemoteProjectItem } from '../../src/views';
import { fake, window } from './fake-vscode';
import { FakeSidecar, remoteEntry } from './fake-sidecar';

const repo = '/srv/git/acme-api';
const inRepo = (over = {}) =>
  remoteEntry({
    projectKey: `git:${repo}`,
    projectName: 'acme-api',
    projectKind: 'repository',
    repository: repo,
    localFolder: null,
    placement: 'no local checkout',
    ...over,
  });

describe('repositories in the Remote Bundles view', () => {
  beforeEach(() => fake.reset());

  test('a repository shows its short name and where its sessions go, or that there is no local checkout', async () => {
    const provider = new RemoteBundlesProvider(
      new FakeSidecar().on(Method.listRemote, () => ({ entries: [inRepo(), remoteEntry({ sessionId: 'r2', projectKey: 'acme/web' })] })),
    );
    const roots = (await provider.getChildren()) as RemoteProjectItem[];
    assert.deepEqual(roots.map((r) => r.label).sort(), ['acme-api', 'acme/web']);
    const item = roots.find((r) => r.repository)!;
    assert.equal(item.contextValue, 'remoteProject.repository');
    assert.equal(item.description, '1 session · no local checkout');
    const plain = roots.find((r) => !r.repository)!;
    assert.equal(plain.contextValue, 'remoteProject');
    assert.equal(new RemoteProjectItem(`git:${repo}`, [inRepo({ localFolder: '/home/b/elsewhere/acme-api-2' })]).description, '1 session · /home/b/elsewhere/acme-api-2');
  });

  test('choosing the folder of a repository pins it through the sidecar and refreshes the view', async () => {
    setLogChannel(window.createOutputChannel('Claude Sync') as any);
    const sidecar = new FakeSidecar().on(Method.mapRepository, (p) => ({
      repositories: [{ identity: p.repository, key: `git:${p.repository}`, name: 'acme-api', folder: p.folder, pinned: true, checkouts: [] }],
    }));
    const remote = { refreshed: 0, refresh() { this.refreshed++; } };
    const controller = new Controller({ sidecar, local: { refresh() {} }, remote, statusBar: new HooksStatusBar(), secrets: { get: async () => undefined, store: async () => {} } });
    fake.openDialogAnswer = ['/home/b/src/api'];

    const folder = await controller.chooseRepositoryFolder(new RemoteProjectItem(`git:${repo}`, [inRepo()]));

    assert.equal(folder, '/home/b/src/api');
    assert.deepEqual(sidecar.callsTo(Method.mapRepository), [{ repository: repo, folder: '/home/b/src/api' }]);
    assert.equal(remote.refreshed, 1);
    assert.match(fake.messages[0].text, /sessions of \/srv\/git\/acme-api now go to \/home\/b\/src\/api/);
  });

  test('from the command palette a dismissed quick pick changes nothing', async () => {
    const sidecar = new FakeSidecar().on(Method.repositories, () => ({ repositories: [] }));
    const controller = new Controller({ sidecar, local: { refresh() {} }, remote: { refresh() {} }, statusBar: new HooksStatusBar(), secrets: { get: async () => undefined, store: async () => {} } });
    assert.equal(await controller.chooseRepositoryFolder(), undefined);
    assert.equal(sidecar.callsTo(Method.mapRepository).length, 0);
  });
});
