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
    assert.equal(item.contextValue, 'remoteProject.repository.unplaced');
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

  test('a repository with no checkout is cloned where the user says, from the URL they confirm', async () => {
    setLogChannel(window.createOutputChannel('Claude Sync') as any);
    const known = { identity: repo, key: `git:${repo}`, name: 'acme-api', cloneUrl: repo, folder: null, pinned: false, checkouts: [] };
    const sidecar = new FakeSidecar()
      .on(Method.repositories, () => ({ repositories: [known] }))
      .on(Method.cloneRepository, (p) => ({ folder: `${p.parent}/acme-api`, repositories: [{ ...known, folder: `${p.parent}/acme-api`, pinned: true }] }));
    const remote = { refreshed: 0, refresh() { this.refreshed++; } };
    const controller = new Controller({ sidecar, local: { refresh() {} }, remote, statusBar: new HooksStatusBar(), secrets: { get: async () => undefined, store: async () => {} } });
    const row = new RemoteProjectItem(`git:${repo}`, [inRepo()]);
    assert.equal(row.contextValue, 'remoteProject.repository.unplaced');
    fake.inputAnswers = ['ssh://git@example.test/srv/git/acme-api.git'];
    fake.openDialogAnswer = ['/home/b/src'];

    const folder = await controller.cloneRepository(row);

    assert.equal(folder, '/home/b/src/acme-api');
    assert.equal(fake.inputBoxes[0].value, repo, 'the URL the sidecar proposes is offered to edit');
    assert.deepEqual(sidecar.callsTo(Method.cloneRepository), [
      { repository: repo, parent: '/home/b/src', url: 'ssh://git@example.test/srv/git/acme-api.git' },
    ]);
    assert.equal(remote.refreshed, 1);
    assert.match(fake.messages[0].text, /cloned \/srv\/git\/acme-api into \/home\/b\/src\/acme-api/);
  });

  test('cancelling the URL or the folder clones nothing', async () => {
    const known = { identity: repo, key: `git:${repo}`, name: 'acme-api', cloneUrl: repo, folder: null, pinned: false, checkouts: [] };
    const sidecar = new FakeSidecar().on(Method.repositories, () => ({ repositories: [known] }));
    const controller = new Controller({ sidecar, local: { refresh() {} }, remote: { refresh() {} }, statusBar: new HooksStatusBar(), secrets: { get: async () => undefined, store: async () => {} } });
    fake.inputAnswers = [undefined];
    assert.equal(await controller.cloneRepository(new RemoteProjectItem(`git:${repo}`, [inRepo()])), undefined);
    fake.inputAnswers = [repo];
    fake.openDialogAnswer = undefined;
    assert.equal(await controller.cloneRepository(new RemoteProjectItem(`git:${repo}`, [inRepo()])), undefined);
    assert.equal(sidecar.callsTo(Method.cloneRepository).length, 0);
  });
});

describe('repositories in the Local Sessions view', () => {
  test('a repository project reads as its short name; its key stays the row id and the tooltip', async () => {
    const { LocalProjectItem } = await import('../../src/views');
    const key = `git:${repo}//services`;
    const row = new LocalProjectItem({ projectKey: key, projectName: 'acme-api/services', projectKind: 'repository', cwd: '/home/b/api/services', portable: true, sessions: [] });
    assert.equal(row.label, 'acme-api/services');
    assert.equal(row.id, `local-project:${key}`);
    assert.match(String(row.tooltip), new RegExp(key.replace(/[/.]/g, '\\$&')));
    assert.equal(new LocalProjectItem({ projectKey: 'acme/web', cwd: '/home/b/code/acme/web', portable: true, sessions: [] }).label, 'acme/web');
  });
});
