import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { Controller, TOKEN_SECRET, registerCommands, validateDeviceName, validateServerUrl } from '../../src/commands';
import { setLogChannel } from '../../src/log';
import { Method, type HooksState, type ProgressEvent } from '../../src/protocol';
import { HooksStatusBar } from '../../src/statusBar';
import { LocalProjectItem, LocalSessionItem, RemoteProjectItem, RemoteSessionItem } from '../../src/views';
import { commands, fake, window } from './fake-vscode';
import { FakeSidecar, RpcError, check, config, group, remoteEntry, session, status, summary } from './fake-sidecar';
import { ConfigMirror } from '../../src/configMirror';
import type { EncryptionCommands } from '../../src/encryption';
import type { RemovalCommands } from '../../src/removal';
import type { SessionCommands } from '../../src/sessionCommands';

class FakeSecrets {
  readonly values = new Map<string, string>();
  async get(key: string) {
    return this.values.get(key);
  }
  async store(key: string, value: string) {
    this.values.set(key, value);
  }
}

class FakeMemento {
  readonly values = new Map<string, unknown>();
  get<T>(key: string, fallback: T): T {
    return (this.values.get(key) as T) ?? fallback;
  }
  async update(key: string, value: unknown) {
    this.values.set(key, value);
  }
}

function setup(sidecar: FakeSidecar) {
  const channel = window.createOutputChannel('Claude Sync');
  setLogChannel(channel as any);
  const local = { refreshed: 0, refresh() { this.refreshed++; } };
  const remote = { refreshed: 0, refresh() { this.refreshed++; } };
  const statusBar = new HooksStatusBar();
  const secrets = new FakeSecrets();
  const memento = new FakeMemento();
  const mirror = new ConfigMirror(sidecar, memento as any, () => undefined);
  const controller = new Controller({ sidecar, local, remote, statusBar, secrets, mirror });
  return { controller, channel, local, remote, statusBar, secrets, mirror, item: fake.statusBarItems[0] };
}

const done = (sessionId: string, title = 'Fix the flaky login test') => ({ sessionId, status: 'done' as const, reason: '', projectKey: 'acme/api', title });

describe('upload and download', () => {
  beforeEach(() => fake.reset());

  test('uploading a session pushes that session under a progress notification and reports the summary', async () => {
    const s = session();
    let controller!: Controller;
    const sidecar = new FakeSidecar().on(Method.push, (p) => {
      const progress: ProgressEvent = { operationId: p.operationId, done: 1, total: 1, sessionId: s.sessionId, status: 'done', reason: '', message: 'Fix the flaky login test: done' };
      controller.onProgress(progress);
      controller.onProgress({ ...progress, operationId: 'someone-else' });
      return summary('push', [done(s.sessionId)]);
    });
    const t = setup(sidecar);
    controller = t.controller;

    const result = await controller.uploadSession(new LocalSessionItem(s));

    const [params] = sidecar.callsTo(Method.push);
    assert.deepEqual(params.sessionIds, [s.sessionId]);
    assert.equal(typeof params.operationId, 'string');
    assert.equal(result?.done, 1);
    const [run] = fake.progressRuns;
    assert.equal(run.options.title, 'Uploading "Fix the flaky login test"');
    assert.equal(run.options.cancellable, true);
    assert.deepEqual(run.reports, [{ message: 'Fix the flaky login test: done', increment: 100 }]);
    assert.deepEqual(fake.messages, [{ severity: 'info', text: 'Uploaded "Fix the flaky login test".', items: [] }]);
    assert.ok(t.remote.refreshed >= 1);
  });

  test('a project upload sends its project key and Upload All sends all', async () => {
    const sidecar = new FakeSidecar().on(Method.push, () => summary('push', []));
    const { controller } = setup(sidecar);

    await controller.uploadProject(new LocalProjectItem(group([session()])));
    await controller.uploadAll();

    const [project, all] = sidecar.callsTo(Method.push);
    assert.equal(project.project, 'acme/api');
    assert.equal(project.sessionIds, undefined);
    assert.equal(all.all, true);
    assert.notEqual(project.operationId, all.operationId);
  });

  test('a batch with failures ends in a warning whose button shows the failures in the output channel', async () => {
    const sidecar = new FakeSidecar().on(Method.push, () =>
      summary('push', [
        done('s-1'),
        { sessionId: 's-2', status: 'failed', reason: 'remote rejected the push', projectKey: 'acme/api', title: 'Broken one' },
        { sessionId: 's-3', status: 'skipped', reason: 'already up to date', projectKey: 'acme/api', title: 'Same' },
      ]),
    );
    const { controller, channel } = setup(sidecar);
    fake.messageAnswers.push('Show Failures');

    const result = await controller.uploadAll();

    assert.equal(result?.failed, 1);
    assert.deepEqual(fake.messages, [{ severity: 'warning', text: 'Upload: 1 done, 1 skipped, 1 failed.', items: ['Show Failures'] }]);
    assert.equal(channel.shown, 1);
    assert.ok(channel.lines.includes('error upload failed: Broken one (s-2): remote rejected the push'));
  });

  test('a batch reads as counts, one session by its name and what happened to it', async () => {
    const sidecar = new FakeSidecar()
      .on(Method.push, () => summary('push', [done('s-1'), done('s-2', 'Other')]))
      .on(Method.pull, (p) =>
        summary('pull', [{ sessionId: p.sessionIds[0], status: 'skipped', reason: 'already up to date.', projectKey: 'acme/api', title: 'Same' }]),
      );
    const { controller } = setup(sidecar);

    await controller.uploadAll();
    await controller.downloadSession(new RemoteSessionItem(remoteEntry({ sessionId: 's-3' })));

    assert.deepEqual(fake.messages.map((m) => m.text), ['Upload: 2 done, 0 skipped, 0 failed.', 'Skipped "Same": already up to date.']);
  });

  test('cancelling the progress notification asks the sidecar to cancel that operation', async () => {
    let release!: () => void;
    const sidecar = new FakeSidecar()
      .on(Method.push, () => new Promise((resolve) => (release = () => resolve(summary('push', [])))))
      .on(Method.cancel, () => {
        release();
        return { cancelled: true };
      });
    const { controller } = setup(sidecar);
    fake.onProgressStart = (run) => setImmediate(() => run.cancel());

    await controller.uploadAll();

    const [push] = sidecar.callsTo(Method.push);
    assert.deepEqual(sidecar.callsTo(Method.cancel), [{ operationId: push.operationId }]);
  });

  test('a refused sync becomes a message whose button leads to the fix', async () => {
    const sidecar = new FakeSidecar().on(Method.push, () => {
      throw new RpcError(-32001, 'This device is not set up yet.', { code: 'config_error', remedies: [{ id: 'configureDevice', title: 'Configure Device' }] });
    });
    const { controller } = setup(sidecar);
    let configured = 0;
    commands.registerCommand('claudeSync.configureDevice', () => configured++);
    fake.messageAnswers.push('Configure Device');

    const result = await controller.uploadAll();

    assert.equal(result, undefined);
    assert.deepEqual(fake.messages, [
      { severity: 'warning', text: 'Upload failed: This device is not set up yet.', items: ['Configure Device'] },
    ]);
    assert.equal(configured, 1);
  });

  test('downloading a bundle pulls that session and refreshes both views', async () => {
    const e = remoteEntry();
    const sidecar = new FakeSidecar().on(Method.pull, () => summary('pull', [done(e.sessionId)]));
    const { controller, local, remote } = setup(sidecar);

    await controller.downloadSession(new RemoteSessionItem(e));
    await controller.downloadProject(new RemoteProjectItem('acme/web', [e]));
    await controller.downloadAll();

    const [one, project, all] = sidecar.callsTo(Method.pull);
    assert.deepEqual(one.sessionIds, [e.sessionId]);
    assert.equal(project.project, 'acme/web');
    assert.equal(all.all, true);
    assert.equal(fake.messages[0].text, 'Downloaded "Fix the flaky login test".');
    assert.equal(fake.progressRuns[0].options.title, 'Downloading "Fix the flaky login test"');
    assert.equal(local.refreshed, 3);
    assert.equal(remote.refreshed, 3);
  });
});

describe('configuration commands', () => {
  beforeEach(() => fake.reset());

  test('Configure Device asks for a name and a folder, saves both to config.json, and the settings show them', async () => {
    const sidecar = new FakeSidecar()
      .on(Method.status, () => status({ installed: false, settingsPath: '/h/.claude/settings.json' }))
      .on(Method.configure, (p) => status({ installed: false, settingsPath: '/h/.claude/settings.json' }, { config: config({ deviceName: p.deviceName, projectsRoot: p.projectsRoot }) }));
    const { controller } = setup(sidecar);
    fake.inputAnswers.push('beta ');
    fake.openDialogAnswer = ['/home/beta/work/projects'];

    await controller.configureDevice();

    assert.equal(fake.inputBoxes[0].value, 'alpha');
    assert.deepEqual(sidecar.callsTo(Method.configure), [{ deviceName: 'beta', projectsRoot: '/home/beta/work/projects' }]);
    assert.equal(fake.settings.get('claudeSyncSessions.deviceName')?.globalValue, 'beta');
    assert.equal(fake.settings.get('claudeSyncSessions.projectsRoot')?.globalValue, '/home/beta/work/projects');
    assert.match(fake.messages[0].text, /this device is "beta", projects under \/home\/beta\/work\/projects/);
  });

  test('Configure Device cancelled at the folder picker changes nothing', async () => {
    const sidecar = new FakeSidecar().on(Method.status, () => status({ installed: false, settingsPath: 's' }));
    const { controller } = setup(sidecar);
    fake.inputAnswers.push('beta');

    await controller.configureDevice();

    assert.deepEqual(sidecar.callsTo(Method.configure), []);
    assert.equal(fake.settings.size, 0);
  });

  test('device names must be one line without slashes; server URLs must be http(s)', () => {
    assert.equal(validateDeviceName('laptop'), undefined);
    assert.ok(validateDeviceName('a/b'));
    assert.ok(validateDeviceName('  '));
    assert.equal(validateServerUrl('https://sync.example.com'), undefined);
    assert.ok(validateServerUrl('sync.example.com'));
  });

  test('Set Git Repository URL tests the repository, then saves it and says what passed', async () => {
    const url = 'git@example.com:me/sessions.git';
    const sidecar = new FakeSidecar()
      .on(Method.status, () => status({ installed: false, settingsPath: 's' }))
      .on(Method.checkRemote, () => check(true, { url, message: `the Git repository ${url} is reachable, lets this device in and accepts its sessions.` }))
      .on(Method.configure, () => status({ installed: false, settingsPath: 's' }, { config: config({ gitRepoUrl: url }) }));
    const { controller, remote } = setup(sidecar);
    fake.inputAnswers.push(url);

    await controller.setGitRepoUrl();

    assert.deepEqual(sidecar.callsTo(Method.checkRemote), [{ backend: 'git', gitRepoUrl: url, gitBranch: 'main' }]);
    assert.deepEqual(sidecar.callsTo(Method.configure), [{ gitRepoUrl: url, backend: 'git' }]);
    assert.equal(fake.settings.get('claudeSyncSessions.gitRepoUrl')?.globalValue, url);
    assert.deepEqual(fake.messages.at(-1), { severity: 'info', text: `Claude Sync: saved. The Git repository ${url} is reachable, lets this device in and accepts its sessions.`, items: [] });
    assert.ok(remote.refreshed >= 1);
  });

  test('a repository that fails the test is not saved: an error with the remedies as buttons', async () => {
    const sidecar = new FakeSidecar()
      .on(Method.status, () => status({ installed: false, settingsPath: 's' }))
      .on(Method.checkRemote, () => check(false))
      .on(Method.configure, () => assert.fail('saved a remote that failed its test'));
    const { controller } = setup(sidecar);
    fake.inputAnswers.push('/srv/nope.git');
    fake.messageAnswers.push('Change URL');
    fake.inputAnswers.push(undefined); // the Change URL remedy asks again; Escape

    await controller.setGitRepoUrl();

    const shown = fake.messages[0];
    assert.equal(shown.severity, 'error');
    assert.match(shown.text, /^Claude Sync: not saved\. The Git repository \/srv\/sessions\.git: cannot reach it/);
    assert.deepEqual(shown.items, ['Save Anyway', 'Change URL', 'Show Details']);
    assert.deepEqual(fake.executed.filter((c) => c.command.startsWith('claudeSync.')).map((c) => c.command), ['claudeSync.setGitRepoUrl']);
  });

  test('Save Anyway saves a remote that failed its test, with a warning', async () => {
    const sidecar = new FakeSidecar()
      .on(Method.status, () => status({ installed: false, settingsPath: 's' }))
      .on(Method.checkRemote, () => check(false, { severity: 'warning' }))
      .on(Method.configure, () => status({ installed: false, settingsPath: 's' }));
    const { controller } = setup(sidecar);
    fake.inputAnswers.push('/srv/sessions.git');
    fake.messageAnswers.push('Save Anyway');

    await controller.setGitRepoUrl();

    assert.equal(fake.messages[0].severity, 'warning');
    assert.equal(sidecar.callsTo(Method.configure).length, 1);
    assert.equal(fake.messages[1].severity, 'warning');
  });

  test('Set Server URL tests URL and token together, then keeps the token in secret storage, never in settings', async () => {
    const sidecar = new FakeSidecar()
      .on(Method.status, () => status({ installed: false, settingsPath: 's' }))
      .on(Method.checkRemote, () => check(true, { backend: 'server' }))
      .on(Method.setToken, () => ({ hasToken: true }))
      .on(Method.configure, () => status({ installed: false, settingsPath: 's' }, { config: config({ backend: 'server', serverUrl: 'https://sync.example.com' }) }));
    const { controller, secrets } = setup(sidecar);
    fake.inputAnswers.push('https://sync.example.com', 'tok-123');

    await controller.setServerUrl();

    assert.equal(fake.inputBoxes[1].password, true);
    assert.deepEqual(sidecar.callsTo(Method.checkRemote), [{ backend: 'server', serverUrl: 'https://sync.example.com', token: 'tok-123', caBundle: undefined }]);
    assert.equal(secrets.values.get(TOKEN_SECRET), 'tok-123');
    assert.deepEqual(sidecar.callsTo(Method.setToken), [{ token: 'tok-123', serverUrl: 'https://sync.example.com' }]);
    assert.deepEqual(sidecar.callsTo(Method.configure), [{ serverUrl: 'https://sync.example.com', backend: 'server' }]);
    const saved = JSON.stringify([...fake.settings.entries()]);
    assert.ok(!saved.includes('tok-123'));
  });

  test('on start config.json is shown in the settings, nothing is sent to config.json, and the stored token is handed over', async () => {
    const server = config({ backend: 'server', serverUrl: 'https://sync.example.com', gitRepoUrl: null, gitBranch: 'sessions' });
    const sidecar = new FakeSidecar()
      .on(Method.status, () => status({ installed: true, settingsPath: 's' }, { config: server }))
      .on(Method.setToken, () => ({ hasToken: true }));
    const { controller, secrets, item } = setup(sidecar);
    secrets.values.set(TOKEN_SECRET, 'tok');

    await controller.start();

    assert.deepEqual(sidecar.callsTo(Method.configure), []);
    assert.equal(fake.settings.get('claudeSyncSessions.serverUrl')?.globalValue, 'https://sync.example.com');
    assert.equal(fake.settings.get('claudeSyncSessions.gitBranch')?.globalValue, 'sessions');
    assert.equal(fake.settings.get('claudeSyncSessions.backend')?.globalValue, 'server');
    assert.deepEqual(sidecar.callsTo(Method.setToken), [{ token: 'tok', serverUrl: 'https://sync.example.com' }]);
    assert.equal(item.text, 'Claude Sync: Hooks ON');
  });

  test('a setting that differs from config.json at start overwrites neither: the user picks', async () => {
    fake.setting('claudeSyncSessions.projectsRoot', { globalValue: '/somewhere/else' });
    const sidecar = new FakeSidecar().on(Method.status, () => status({ installed: false, settingsPath: 's' }));
    const { controller } = setup(sidecar);

    await controller.start();
    await new Promise((r) => setImmediate(r));

    assert.deepEqual(sidecar.callsTo(Method.configure), []);
    assert.equal(fake.settings.get('claudeSyncSessions.projectsRoot')?.globalValue, '/somewhere/else');
    const asked = fake.messages.find((m) => m.severity === 'warning')!;
    assert.match(asked.text, /Projects Root is "\/somewhere\/else" here, "\/home\/alpha\/code" in config\.json/);
    assert.deepEqual(asked.items, ['Use config.json', 'Use VS Code Settings']);
  });

  test('an edit in the Settings editor is saved to config.json; a remote is tested first', async () => {
    const sidecar = new FakeSidecar()
      .on(Method.status, () => status({ installed: false, settingsPath: 's' }))
      .on(Method.checkRemote, () => check(true))
      .on(Method.configure, (p) => status({ installed: false, settingsPath: 's' }, { config: config(p) }));
    const { controller, mirror } = setup(sidecar);
    await controller.start();

    fake.setting('claudeSyncSessions.gitBranch', { globalValue: 'sessions' });
    mirror.onDidChange({ affectsConfiguration: (s: string) => s === 'claudeSyncSessions.gitBranch' } as any);
    await mirror.flush();

    assert.deepEqual(sidecar.callsTo(Method.checkRemote), [{ backend: 'git', gitRepoUrl: '/srv/sessions.git', gitBranch: 'sessions', serverUrl: undefined, caBundle: undefined }]);
    assert.deepEqual(sidecar.callsTo(Method.configure), [{ gitBranch: 'sessions' }]);
    assert.equal(fake.messages.at(-1)?.text, 'Claude Sync: Git Branch saved to config.json.');
  });

  test('an edit whose remote fails the test is put back to what config.json holds', async () => {
    const sidecar = new FakeSidecar()
      .on(Method.status, () => status({ installed: false, settingsPath: 's' }))
      .on(Method.checkRemote, () => check(false))
      .on(Method.configure, () => assert.fail('saved'));
    const { controller, mirror } = setup(sidecar);
    await controller.start();

    fake.setting('claudeSyncSessions.gitRepoUrl', { globalValue: '/srv/nope.git' });
    mirror.onDidChange({ affectsConfiguration: (s: string) => s === 'claudeSyncSessions.gitRepoUrl' } as any);
    await mirror.flush();

    assert.match(fake.messages.at(-1)!.text, /^Not saved to config\.json: /);
    assert.equal(fake.settings.get('claudeSyncSessions.gitRepoUrl')?.globalValue, '/srv/sessions.git');
  });

  test('the views learn whether the device and the remote are set up, for their welcome text', async () => {
    const sidecar = new FakeSidecar().on(Method.status, () =>
      status({ installed: false, settingsPath: 's' }, { config: config({ backend: 'server', serverUrl: null }) }),
    );
    const { controller } = setup(sidecar);
    await controller.configChanged();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      fake.executed.filter((c) => c.command === 'setContext').map((c) => c.args),
      [['claudeSync.configured', true], ['claudeSync.remoteConfigured', false]],
    );
  });
});

describe('hooks and the status bar', () => {
  beforeEach(() => fake.reset());

  const hooksSidecar = (initial: boolean) => {
    let installed = initial;
    return new FakeSidecar()
      .on(Method.status, () => status({ installed, settingsPath: '/h/.claude/settings.json' }))
      .on(Method.hooks, (p): HooksState => {
        if (p.action === 'install') installed = true;
        if (p.action === 'remove') installed = false;
        return { installed, settingsPath: '/h/.claude/settings.json' };
      });
  };

  test('clicking the status bar item installs the hooks when they are off, and removes them when on', async () => {
    const sidecar = hooksSidecar(false);
    const { controller, item } = setup(sidecar);
    await controller.refreshStatus();
    assert.equal(item.text, 'Claude Sync: Hooks OFF');
    assert.equal(item.command, 'claudeSync.toggleHooks');

    await controller.toggleHooks();
    assert.equal(item.text, 'Claude Sync: Hooks ON');
    assert.match(String(item.tooltip), /installed in \/h\/.claude\/settings.json/);

    await controller.toggleHooks();
    assert.equal(item.text, 'Claude Sync: Hooks OFF');
    assert.deepEqual(sidecar.callsTo(Method.hooks), [{ action: 'install' }, { action: 'remove' }]);
    assert.deepEqual(fake.messages.map((m) => m.text), [
      'Claude Sync: auto-sync hooks installed in /h/.claude/settings.json.',
      'Claude Sync: auto-sync hooks removed from /h/.claude/settings.json.',
    ]);
  });

  test('a failed hooks install keeps the previous state and shows the error', async () => {
    const sidecar = hooksSidecar(false).on(Method.hooks, () => {
      throw new RpcError(-32010, 'settings.json is not valid JSON', { code: 'hooks_error' });
    });
    const { controller, item } = setup(sidecar);
    await controller.refreshStatus();

    const state = await controller.installHooks();

    assert.equal(state, undefined);
    assert.equal(item.text, 'Claude Sync: Hooks OFF');
    assert.deepEqual(fake.messages, [
      { severity: 'error', text: 'Could not install the hooks: settings.json is not valid JSON', items: ['Show Details'] },
    ]);
  });

  test('while the sidecar is down the status bar says the state is unknown, and why', async () => {
    const sidecar = new FakeSidecar().on(Method.status, () => {
      throw new Error('no Python 3.10+ found');
    });
    const { controller, item } = setup(sidecar);
    await controller.refreshStatus();
    assert.equal(item.text, 'Claude Sync: Hooks ?');
    assert.match(String(item.tooltip), /no Python 3.10\+ found/);
  });
});

describe('registered commands', () => {
  beforeEach(() => fake.reset());

  test('every contributed command is registered', async () => {
    const { controller } = setup(new FakeSidecar());
    registerCommands(controller, {} as SessionCommands, { encryption: {} as EncryptionCommands, removal: {} as RemovalCommands });
    const pkg = (await import('node:fs')).readFileSync(`${__dirname}/../../../../package.json`, 'utf8');
    const contributed = (JSON.parse(pkg).contributes.commands as { command: string }[]).map((c) => c.command).sort();
    assert.deepEqual([...fake.commands.keys()].sort(), contributed);
  });

  test('a command that fails shows a message and resolves instead of throwing into VS Code', async () => {
    const sidecar = new FakeSidecar().on(Method.hooks, () => {
      throw new Error('connection got disposed');
    });
    const { controller } = setup(sidecar);
    registerCommands(controller);

    await assert.doesNotReject(commands.executeCommand('claudeSync.toggleHooks'));
    await assert.doesNotReject(commands.executeCommand('claudeSync.uploadSession', undefined));

    assert.equal(fake.messages.length, 2);
    assert.match(fake.messages[0].text, /connection got disposed/);
    assert.ok(fake.messages.every((m) => m.severity === 'error'));
  });
});

describe('the sidecar', () => {
  beforeEach(() => fake.reset());

  test('a restart that fails to start the sidecar says why and offers the Python setting', async () => {
    const sidecar = Object.assign(new FakeSidecar(), {
      running: false,
      problem: 'no Python 3.10+ found (/nope/python: not found)',
      restarts: 0,
      async restart() {
        this.restarts++;
      },
    });
    const { controller, item } = setup(sidecar);

    await controller.restartSidecar();

    assert.equal(sidecar.restarts, 1);
    assert.equal(item.text, 'Claude Sync: Hooks ?');
    assert.deepEqual(fake.messages, [
      {
        severity: 'error',
        text: 'Claude Sync could not start its Python sidecar: no Python 3.10+ found (/nope/python: not found)',
        items: ['Set Python Path', 'Show Details'],
      },
    ]);
  });
});
