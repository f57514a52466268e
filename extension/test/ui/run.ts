// UI tests in a real VS Code (code-server) driven by Playwright in headless Chromium:
// two fixture devices share a local bare Git repository; on alpha the Claude Sync view lists the
// sessions and one is uploaded, on beta it is downloaded (with beta's paths) and the hooks are
// toggled from the status bar; a session in alpha's clone of a repository beta has no checkout of
// reads "no local checkout" on beta until it is cloned from its row, then re-pinned to a folder. Screenshots of each step go to test-artifacts/ui/.
//
//   npm run test:ui                          (installs what it needs first)
//   CLAUDE_SYNC_UI_VSIX=x.vsix npm run test:ui   test a packaged .vsix (bundled libraries, system python3)
//   CLAUDE_SYNC_UI_DOCS_IMAGE=1 ...          also refresh docs/images/claude-sync-view.png
//   CLAUDE_SYNC_UI_KEEP=1 ...                keep the fixture folder
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeFixtures, type Fixtures } from './fixtures';
import { buildDevVsix, CodeServer, extensionLogs, hostTools, readmeImagesUrl, type HostTools } from './host';
import type { Frame } from 'playwright-core';
import { Workbench } from './workbench';

const repo = path.resolve(__dirname, '..', '..', '..', '..');
const artifacts = path.join(repo, 'test-artifacts', 'ui');

interface Step {
  name: string;
  run: () => Promise<void>;
}

class Failure extends Error {}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Failure(message);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Polls `ok` until it holds (the workbench updates asynchronously). */
async function waitFor(ok: () => Promise<boolean>, what: string, timeout = 30_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Failure(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function waitForText(read: () => Promise<string>, pattern: RegExp, timeout = 30_000): Promise<string> {
  let text = '';
  await waitFor(async () => pattern.test((text = await read().catch(() => ''))), `text matching ${pattern}`, timeout);
  return text;
}

/** A hostile or broken remote: one file of a session changed behind the back of its digest. */
function corruptOnRemote(remote: string, sessionId: string, work: string): void {
  const clone = path.join(work, 'corrupt-clone');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: clone, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });
  execFileSync('git', ['clone', '-q', remote, clone]);
  const dir = path.join(clone, 'sessions', sessionId[0], sessionId[1], sessionId);
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name !== 'session.json') files.push(path.join(d, e.name));
    }
  };
  walk(dir);
  check(files.length > 0, `no files of ${sessionId} in the remote`);
  fs.appendFileSync(files[0], '{"type":"user","message":{"role":"user","content":"injected"}}\n');
  git('-c', 'user.name=mallory', '-c', 'user.email=m@localhost', 'commit', '-qam', 'tamper');
  git('push', '-q', 'origin', 'HEAD');
}

/** The remote's owner undoes what `corruptOnRemote` did (a revert on top of what is there now). */
function repairOnRemote(work: string): void {
  const clone = path.join(work, 'corrupt-clone');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: clone, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });
  const tamper = git('log', '-1', '--format=%H', '--author=mallory').trim();
  git('pull', '-q', '--rebase', 'origin', 'main');
  git('-c', 'user.name=owner', '-c', 'user.email=o@localhost', 'revert', '--no-edit', tamper);
  git('push', '-q', 'origin', 'HEAD:main');
}

/** A new session of the same project, as the client writes one: a copy of `from` under a new id and title. */
function writeSession(from: string, id: string, title: string): void {
  const old = path.basename(from, '.jsonl');
  const lines = fs
    .readFileSync(from, 'utf8')
    .split('\n')
    .filter((l) => l && !l.includes('"custom-title"'))
    .map((l) => l.split(old).join(id));
  lines.push(JSON.stringify({ type: 'custom-title', customTitle: title, sessionId: id }));
  fs.writeFileSync(path.join(path.dirname(from), `${id}.jsonl`), lines.join('\n') + '\n');
}

/** Where encryption stands on a fixture device, as the CLI reads it (the store the sidecar wrote). */
function encryptionOf(home: string): { encrypted: boolean; joined: boolean; store: string } {
  const out = execFileSync(path.join(repo, '.venv', 'bin', 'claude-sync'), ['encryption', 'status', '--json'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' },
  });
  return JSON.parse(out) as { encrypted: boolean; joined: boolean; store: string };
}

/** Every file a device's VS Code keeps (settings, logs, state): none may hold a secret. */
function filesHolding(dir: string, secret: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && fs.statSync(p).size < 20_000_000 && fs.readFileSync(p).includes(secret)) found.push(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return found;
}

function hooksIn(settingsFile: string): string {
  if (!fs.existsSync(settingsFile)) return '';
  const hooks = (JSON.parse(fs.readFileSync(settingsFile, 'utf8')) as { hooks?: unknown }).hooks;
  return hooks ? JSON.stringify(hooks) : '';
}

class Device {
  server: CodeServer | undefined;
  bench: Workbench | undefined;

  constructor(
    readonly name: 'alpha' | 'beta' | 'gamma',
    private readonly tools: HostTools,
    private readonly fx: Fixtures,
    private readonly work: string,
    private readonly vsix: string,
    private readonly env: Record<string, string>,
  ) {}

  async open(): Promise<Workbench> {
    const d = this.fx[this.name];
    // The terminal's shell may rebuild PATH (a login shell): the stand-in `claude` goes first there too.
    const settings = this.env.PATH ? { 'terminal.integrated.env.linux': { PATH: `${this.env.PATH.split(path.delimiter)[0]}${path.delimiter}\${env:PATH}` } } : {};
    this.server = new CodeServer(this.tools, { stateDir: path.join(this.work, `code-server-${this.name}`), home: d.home, workspace: d.projects, env: this.env, settings });
    this.server.installExtension(this.vsix);
    await this.server.start();
    this.bench = await Workbench.open(this.tools.chromium, this.server.url, artifacts);
    await this.bench.openClaudeSync();
    return this.bench;
  }

  async close(): Promise<void> {
    await this.bench?.close();
    await this.server?.stop();
    this.bench = undefined;
    this.server = undefined;
  }

  /** The extension's own log (its output channel), for a failure report. */
  extensionLog(): string {
    return extensionLogs(path.join(this.work, `code-server-${this.name}`))
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
  }
}

async function main(): Promise<number> {
  fs.mkdirSync(artifacts, { recursive: true });
  for (const f of fs.readdirSync(artifacts)) if (f.endsWith('.png') || f.endsWith('.log')) fs.rmSync(path.join(artifacts, f));
  const tools = hostTools();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-sync-ui-'));
  const fx = makeFixtures(repo, work);
  const packaged = process.env.CLAUDE_SYNC_UI_VSIX;
  const vsix = packaged ? path.resolve(packaged) : buildDevVsix(repo, work);
  const env: Record<string, string> = packaged ? {} : { CLAUDE_SYNC_PYTHON: path.join(repo, '.venv', 'bin', 'python') };
  // Resume in Terminal starts `claude`: a stand-in that writes down how it was started (the real
  // client resuming a synced session is what tests/e2e covers).
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'claude'), `#!/bin/sh\nprintf '%s\\n%s\\n' "$*" "$PWD" > ${JSON.stringify(path.join(work, 'claude-resumed.txt'))}\necho "claude stand-in: resumed $2"\n`, { mode: 0o755 });
  env.PATH = `${bin}${path.delimiter}${process.env.PATH ?? ''}`;
  console.log(`ui: fixtures in ${work}; extension ${path.basename(vsix)}${packaged ? ' (bundled libraries)' : ' (sidecar from .venv)'}`);

  const alpha = new Device('alpha', tools, fx, work, vsix, env);
  const beta = new Device('beta', tools, fx, work, vsix, env);
  const gamma = new Device('gamma', tools, fx, work, vsix, env);
  const stopAll = async () => {
    await gamma.close();
    await alpha.close();
    await beta.close();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void stopAll().finally(() => process.exit(130)));
  }

  const moved = fx.moved;
  const billing = fx.billing;
  const betaSettings = path.join(fx.beta.claude, 'settings.json');
  let shot = 0;
  const screenshot = (bench: Workbench, name: string) => bench.screenshot(`${String(++shot).padStart(2, '0')}-${name}`);

  const gammaConfig = path.join(fx.gamma.home, '.claude-sync-sessions', 'config.json');
  const readConfig = (file: string): Record<string, unknown> => (fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {});
  const remoteLabel = new RegExp(`^Git \\(main\\) · ${escapeRegExp(fx.remote)} · fetched \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d`);

  // A session written while the view is open (the watcher shows it), and where the stub `claude`
  // says how it was started.
  const fresh = { id: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9', title: 'A session started a moment ago' };
  // End-to-end encryption: set up on beta, joined on alpha with the phrase beta was shown.
  const passphrase = 'a passphrase for the ui test';
  let phrase = '';
  const alphaConfig = path.join(fx.alpha.home, '.claude-sync-sessions', 'config.json');
  const resumed = path.join(work, 'claude-resumed.txt');

  /** The inline ↓ of a remote session on beta: it lands in `transcript`, with `cwd` and none of alpha's paths. */
  const downloadOnBeta = async (title: string, transcript: string, cwd: string) => {
    const bench = beta.bench!;
    await bench.clickInline(await bench.waitForRow('Remote Bundles', title), 'Download Session');
    await bench.waitForToast(new RegExp(`^Downloaded "${escapeRegExp(title)}"`));
    await bench.waitForRow('Local Sessions', title);
    check(fs.existsSync(transcript), `${transcript} is missing`);
    const text = fs.readFileSync(transcript, 'utf8');
    check(text.includes(`"cwd":"${cwd}"`) || text.includes(`"cwd": "${cwd}"`), `the transcript's cwd is not ${cwd}`);
    check(!text.includes(fx.alpha.home), "alpha's home is still in beta's transcript");
  };

  const steps: Step[] = [
    {
      name: 'gamma: a first start shows the welcome with buttons, never a command line',
      run: async () => {
        const bench = await gamma.open();
        for (const button of ['Configure Device', 'Use a Git Repository', 'Use a Sync Server']) {
          await bench.welcomeButton(button).waitFor({ timeout: 60_000 });
        }
        const text = await bench.sidebarText();
        check(!/claude-sync (configure|token|push|pull|serve\b|hooks)|--|`|Could not list/.test(text), `the views show an error or a command line:\n${text}`);
        await screenshot(bench, 'gamma-welcome');
      },
    },
    {
      name: 'gamma: Configure Device from the welcome saves config.json, and the view follows',
      run: async () => {
        const bench = gamma.bench!;
        await bench.welcomeButton('Configure Device').click();
        await bench.answer('gamma');
        await bench.pickFolder(fx.gamma.projects, 'Use as Projects Root');
        await bench.waitForToast(/this device is "gamma"/);
        const saved = readConfig(gammaConfig);
        check(saved.device === 'gamma' && saved.projects_root === fx.gamma.projects, `config.json: ${JSON.stringify(saved)}`);
        // Its four sessions in one project: listed, the group collapsed (more than a few sessions).
        const group = await bench.waitForRow('Local Sessions', 'tools/cli');
        check((await group.getAttribute('aria-expanded')) === 'false', 'a group of four sessions starts expanded');
        check((await bench.rowDescription(group)).startsWith('4 sessions'), `tools/cli reads "${await bench.rowDescription(group)}"`);
        await screenshot(bench, 'gamma-configured');
      },
    },
    {
      name: 'gamma: a Git URL that fails its test is not saved, and the error offers the fix',
      run: async () => {
        const bench = gamma.bench!;
        await bench.closeToasts();
        await bench.welcomeButton('Use a Git Repository').click();
        await bench.answer(path.join(work, 'no-such-repo.git'));
        await bench.waitForToast(/not saved\. The Git repository .*there is no repository/);
        const buttons = await bench.toastButtons(/not saved/);
        check(JSON.stringify(buttons) === JSON.stringify(['Save Anyway', 'Change URL', 'Show Details']), `buttons: ${buttons}`);
        check(!readConfig(gammaConfig).git_url, 'the failing URL was saved');
        await screenshot(bench, 'gamma-bad-url');
      },
    },
    {
      name: 'gamma: Change URL, a repository that passes its test is saved, and the remote view names it',
      run: async () => {
        const bench = gamma.bench!;
        await bench.toastButton(/not saved/, 'Change URL').click();
        await bench.answer(fx.remote);
        await bench.waitForToast(/saved\. The Git repository .* is reachable, lets this device in and accepts its sessions/);
        check(readConfig(gammaConfig).git_url === fx.remote, `config.json: ${JSON.stringify(readConfig(gammaConfig))}`);
        await waitFor(async () => remoteLabel.test(await bench.viewDescription('Remote Bundles')), 'the remote view names its remote');
        await screenshot(bench, 'gamma-remote-saved');
      },
    },
    {
      name: 'gamma: the Settings editor shows config.json, and an edit there is saved to it',
      run: async () => {
        const bench = gamma.bench!;
        await bench.closeToasts();
        await bench.runCommand('Preferences: Open Remote Settings');
        // The settings search has the focus once the editor is open.
        await bench.page.getByText('Commonly Used').first().waitFor({ timeout: 30_000 });
        const search = async (text: string) => {
          await bench.page.keyboard.press('Control+A');
          await bench.page.keyboard.type(text);
        };
        const field = (label: string) =>
          bench.page.locator('.settings-editor .setting-item-contents').filter({ hasText: `Claude Sync Sessions: ${label}` }).locator('input').first();
        await search('claudeSyncSessions');
        await field('Device Name').waitFor({ timeout: 30_000 });
        check((await field('Device Name').inputValue()) === 'gamma', `Device Name shows "${await field('Device Name').inputValue()}"`);
        check((await field('Projects Root').inputValue()) === fx.gamma.projects, 'Projects Root does not show config.json');
        await screenshot(bench, 'gamma-settings');
        // Branch, CA bundle and the hooks' timeout are there too; the list renders what is in view.
        for (const [key, label, value] of [['gitBranch', 'Git Branch', 'main'], ['caBundle', 'Ca Bundle', ''], ['hookPullTimeout', 'Hook Pull Timeout', '5']]) {
          await search(`claudeSyncSessions.${key}`);
          await field(label).waitFor({ timeout: 30_000 });
          check((await field(label).inputValue()) === value, `${label} shows "${await field(label).inputValue()}"`);
        }
        gamma.server!.updateMachineSettings({ 'claudeSyncSessions.hookPullTimeout': 12 });
        await bench.waitForToast(/Hook Pull Timeout saved to config\.json/);
        check(readConfig(gammaConfig).hook_pull_timeout === 12, `config.json: ${JSON.stringify(readConfig(gammaConfig))}`);
        await screenshot(bench, 'gamma-settings-saved');
        await gamma.close();
      },
    },
    {
      name: 'alpha: the Claude Sync view lists the projects and their sessions',
      run: async () => {
        const bench = await alpha.open();
        await bench.waitForRow('Local Sessions', 'acme/api');
        await bench.waitForRow('Local Sessions', 'acme/web');
        for (const s of fx.sessions) await bench.waitForRow('Local Sessions', s.title);
        // The last listing shows first; wait for the sidecar's own (and the remote's) before acting on rows.
        await waitFor(async () => !(await bench.viewDescription('Local Sessions')).includes('refreshing'), 'the listing is fresh');
        await waitFor(async () => /fetched/.test(await bench.viewDescription('Remote Bundles')), 'the remote was listed');
        const project = await bench.rowDescription(bench.row('Local Sessions', 'acme/api'));
        check(project.startsWith('2 sessions'), `acme/api reads "${project}"`);
        const described = await bench.rowDescription(bench.row('Local Sessions', moved.title));
        check(/^(not compared yet|only here) · \d{4}-\d\d-\d\d \d\d:\d\d · [\d.]+ (B|KB)$/.test(described), `the session reads "${described}"`);
        await screenshot(bench, 'alpha-local-sessions');
      },
    },
    {
      name: 'alpha: the inline ↑ on a session uploads it',
      run: async () => {
        const bench = alpha.bench!;
        await bench.clickInline(bench.row('Local Sessions', moved.title), 'Upload Session');
        await bench.waitForToast(new RegExp(`^Uploaded "${moved.title}"`));
        await screenshot(bench, 'alpha-uploaded');
        const log = execFileSync('git', ['--git-dir', fx.remote, 'log', '--oneline', '--all'], { encoding: 'utf8' });
        check(log.trim() !== '', 'the bare repository has no commit after the upload');
      },
    },
    {
      name: 'alpha: the uploaded session is listed under Remote Bundles, from alpha',
      run: async () => {
        const bench = alpha.bench!;
        await bench.waitForRow('Remote Bundles', 'acme/api');
        const row = await bench.waitForRow('Remote Bundles', moved.title);
        const described = await bench.rowDescription(row);
        check(/^in sync · alpha · /.test(described), `the bundle reads "${described}"`);
        check((await bench.row('Remote Bundles', fx.sessions[1].title).count()) === 0, 'a session that was not uploaded is listed as remote');
        await waitFor(async () => remoteLabel.test(await bench.viewDescription('Remote Bundles')), 'the remote view names its remote');
        await screenshot(bench, 'alpha-remote-bundles');
      },
    },
    {
      name: 'alpha: each session shows its sync state, with decorations and a badge counting what to sync',
      run: async () => {
        const bench = alpha.bench!;
        const state = async (title: string) => (await bench.rowDescription(bench.row('Local Sessions', title))).split(' · ')[0];
        await waitFor(async () => (await state(moved.title)) === 'in sync', 'the uploaded session reads "in sync"');
        check((await state(fx.sessions[1].title)) === 'only here', `"${fx.sessions[1].title}" reads "${await state(fx.sessions[1].title)}"`);
        check((await state(fx.stray.title)) === 'not portable', 'the stray session is not "not portable"');
        await waitFor(async () => (await bench.activityBadge()) === '2', 'the badge counts the 2 sessions to upload');
        const size = (await bench.rowDescription(bench.row('Local Sessions', moved.title))).split(' · ').at(-1);
        const remoteSize = (await bench.rowDescription(bench.row('Remote Bundles', moved.title))).split(' · ').at(-1);
        check(size === remoteSize, `one session, two sizes: ${size} here, ${remoteSize} on the remote`);
        await screenshot(bench, 'alpha-sync-states');
      },
    },
    {
      name: 'alpha: a new session appears by itself (a watcher on the client\'s folders)',
      run: async () => {
        const bench = alpha.bench!;
        writeSession(moved.transcript, fresh.id, fresh.title);
        await bench.waitForRow('Local Sessions', fresh.title);
      },
    },
    {
      name: 'alpha: clicking a session opens its conversation, readable',
      run: async () => {
        const bench = alpha.bench!;
        await bench.row('Local Sessions', moved.title).click();
        const text = await waitForText(() => bench.editorText(), /Tool call: Bash/);
        // (the editor renders only the lines in view: the first prompt and tool call)
        check(text.includes(`# ${moved.title}`) && /## You · /.test(text), `the transcript reads:\n${text.slice(0, 500)}`);
        check(!text.includes('"parentUuid"'), 'the transcript is shown as raw JSON');
        await screenshot(bench, 'alpha-transcript');
      },
    },
    {
      name: "alpha: the context menu compares this device's copy with the remote's",
      run: async () => {
        const bench = alpha.bench!;
        await bench.contextMenu(bench.row('Local Sessions', moved.title), "Compare This Device's and the Remote Copy");
        await bench.page.locator('.monaco-diff-editor').first().waitFor({ timeout: 30_000 });
        await screenshot(bench, 'alpha-compare');
        await bench.runCommand('View: Close All Editors');
      },
    },
    {
      name: 'alpha: Copy Session ID and Reveal File from the context menu',
      run: async () => {
        const bench = alpha.bench!;
        await bench.contextMenu(bench.row('Local Sessions', moved.title), 'Copy Session ID');
        await bench.waitForToast(new RegExp(`copied the session id ${moved.id}`));
        check((await bench.clipboard()) === moved.id, `the clipboard holds "${await bench.clipboard()}"`);
        await bench.contextMenu(bench.row('Local Sessions', moved.title), 'Reveal Transcript File');
        await bench.waitForToast(/the transcript is ~\/\.claude\/projects\//);
        await bench.closeToasts();
      },
    },
    {
      name: 'alpha: Resume in Terminal runs claude --resume in the project folder',
      run: async () => {
        const bench = alpha.bench!;
        await bench.clickInline(bench.row('Local Sessions', moved.title), 'Resume in Terminal');
        await waitFor(async () => fs.existsSync(resumed), 'claude was started in the terminal', 60_000);
        const [args, cwd] = fs.readFileSync(resumed, 'utf8').split('\n');
        check(args === `--resume ${moved.id}` && cwd === moved.alphaCwd, `claude ran with "${args}" in ${cwd}`);
        await bench.page.locator('.terminal-wrapper').first().waitFor({ timeout: 30_000 });
        await screenshot(bench, 'alpha-resume');
        await bench.runCommand('Terminal: Kill All Terminals');
      },
    },
    {
      name: 'alpha: a filter shows only the sessions that match',
      run: async () => {
        const bench = alpha.bench!;
        await bench.runCommand('Claude Sync: Filter Sessions…');
        await bench.answer('state:only');
        await waitFor(async () => (await bench.row('Local Sessions', moved.title).count()) === 0, 'the synced session is filtered out');
        await bench.waitForRow('Local Sessions', fx.sessions[1].title);
        check((await bench.viewDescription('Local Sessions')).includes('filter: state:only'), 'the view does not say it is filtered');
        await screenshot(bench, 'alpha-filtered');
        await bench.runCommand('Claude Sync: Clear Filter');
        await bench.waitForRow('Local Sessions', moved.title);
      },
    },
    {
      name: 'alpha: Upload Changed uploads what changed here, and the badge empties',
      run: async () => {
        const bench = alpha.bench!;
        await bench.closeToasts();
        await bench.runCommand('Claude Sync: Upload Changed');
        await bench.waitForToast(/^Upload: 3 done\.$/);
        await waitFor(async () => (await bench.activityBadge()) === '', 'the badge empties');
        await screenshot(bench, 'alpha-upload-changed');
      },
    },
    {
      name: 'alpha: Upload All counts the session that is not portable as skipped, not as a failure',
      run: async () => {
        const bench = alpha.bench!;
        await bench.closeToasts();
        await bench.runCommand('Claude Sync: Upload All');
        await bench.waitForToast(/^Upload: 0 done, 4 up to date, 1 skipped, not portable\.$/);
        await screenshot(bench, 'alpha-upload-all');
      },
    },
    {
      name: 'alpha: a session in a clone of a repository is uploaded, and the remote lists it under the repository\'s short name',
      run: async () => {
        const bench = alpha.bench!;
        await bench.closeToasts();
        fs.mkdirSync(path.dirname(billing.alphaTranscript), { recursive: true });
        fs.copyFileSync(billing.transcript, billing.alphaTranscript);
        await bench.runCommand('Claude Sync: Refresh Local Sessions');
        await bench.clickInline(await bench.waitForRow('Local Sessions', billing.title), 'Upload Session');
        await bench.waitForToast(new RegExp(`^Uploaded "${escapeRegExp(billing.title)}"`));
        await bench.waitForRow('Remote Bundles', billing.name);
        await screenshot(bench, 'alpha-repository-uploaded');
        await alpha.close();
      },
    },
    {
      name: 'beta: the bundle from alpha is listed under Remote Bundles',
      run: async () => {
        const bench = await beta.open();
        const row = await bench.waitForRow('Remote Bundles', moved.title);
        await waitFor(async () => (await bench.rowDescription(row)).startsWith('only on the remote · alpha · '), 'the bundle reads "only on the remote"');
        check((await bench.row('Local Sessions', moved.title).count()) === 0, 'beta lists the session before downloading it');
        check(!fs.existsSync(moved.betaTranscript), 'the transcript is on beta before the download');
        await screenshot(bench, 'beta-remote-bundles');
      },
    },
    {
      name: "beta: the inline ↓ downloads it into beta's ~/.claude with beta's paths",
      run: async () => {
        const bench = beta.bench!;
        await downloadOnBeta(moved.title, moved.betaTranscript, moved.betaCwd);
        await screenshot(bench, 'beta-downloaded');
      },
    },
    {
      name: 'beta: a repository with no checkout here is listed under its short name as "no local checkout"',
      run: async () => {
        const bench = beta.bench!;
        await bench.closeToasts();
        const row = await bench.waitForRow('Remote Bundles', billing.name);
        await waitFor(async () => (await bench.rowDescription(row)).includes('no local checkout'), 'the repository reads "no local checkout"');
        check(!fs.existsSync(billing.betaClone), 'beta has a checkout before the test');
        await screenshot(bench, 'beta-no-local-checkout');
      },
    },
    {
      name: 'beta: its inline Clone button clones it from the URL it knows into a folder the user picks, and the row shows the clone',
      run: async () => {
        const bench = beta.bench!;
        await bench.clickInline(bench.row('Remote Bundles', billing.name), 'Clone a Repository Here');
        const input = bench.page.locator('.quick-input-widget input.input').first();
        await waitFor(async () => (await input.inputValue().catch(() => '')) === billing.identity, 'the URL box is prefilled with where the repository is');
        await screenshot(bench, 'beta-clone-url');
        await input.press('Enter'); // accepted as it is
        await bench.pickFolder(billing.betaParent, 'Clone Here');
        await bench.waitForToast(new RegExp(`cloned .* into ${escapeRegExp(billing.betaClone)}; its sessions go there`));
        check(fs.existsSync(path.join(billing.betaClone, 'services', 'billing', 'README')), `${billing.betaClone} is not a checkout of the repository`);
        await waitFor(async () => (await bench.rowDescription(bench.row('Remote Bundles', billing.name))).includes(billing.betaClone), 'the row shows the clone');
        await screenshot(bench, 'beta-cloned');
      },
    },
    {
      name: "beta: the session downloads into the clone: the client's folder for that checkout, with beta's paths",
      run: async () => {
        await beta.bench!.closeToasts();
        await downloadOnBeta(billing.title, billing.betaTranscript, billing.betaClone);
      },
    },
    {
      name: 'beta: Choose the Folder of a Repository (inline) pins it to another folder, and the row follows',
      run: async () => {
        const bench = beta.bench!;
        await bench.closeToasts();
        await bench.clickInline(bench.row('Remote Bundles', billing.name), 'Choose the Folder of a Repository');
        await bench.pickFolder(billing.betaOther, 'Use This Folder');
        await bench.waitForToast(new RegExp(`sessions of .* now go to ${escapeRegExp(billing.betaOther)}\\.`));
        await waitFor(async () => (await bench.rowDescription(bench.row('Remote Bundles', billing.name))).includes(billing.betaOther), 'the row shows the pinned folder');
        await screenshot(bench, 'beta-repository-pinned');
      },
    },
    {
      name: 'beta: Download All reports a session that fails verification as failed, and Show Failures shows why',
      run: async () => {
        const bench = beta.bench!;
        const broken = fx.sessions[2];
        corruptOnRemote(fx.remote, broken.id, work);
        await bench.closeToasts();
        await bench.runCommand('Claude Sync: Download All');
        await bench.waitForToast(/^Download: 2 done, 2 up to date, 1 failed\.$/);
        await bench.toastButton(/Download: 2 done/, 'Show Failures').click();
        const text = await waitForText(() => bench.editorText(), /Download: 1 failed/);
        check(text.includes(broken.title) && text.includes(broken.id), `the failures document:\n${text}`);
        check(!text.includes(fx.sessions[1].title), 'the failures document lists a session that did not fail');
        await screenshot(bench, 'beta-show-failures');
        await bench.runCommand('View: Close All Editors');
      },
    },
    {
      name: "beta: the status bar item toggles the hooks and beta's settings.json changes",
      run: async () => {
        const bench = beta.bench!;
        const before = hooksIn(betaSettings);
        await bench.statusItem(/Claude Sync: Hooks OFF/).click();
        await bench.statusItem(/Claude Sync: Hooks ON/).waitFor({ timeout: 30_000 });
        const installed = hooksIn(betaSettings);
        check(installed !== before && /claude[_-]sync/.test(installed), `settings.json hooks after install: ${installed || '(none)'}`);
        await screenshot(bench, 'beta-hooks-on');
        await bench.statusItem(/Claude Sync: Hooks ON/).click();
        await bench.statusItem(/Claude Sync: Hooks OFF/).waitFor({ timeout: 30_000 });
        const removed = hooksIn(betaSettings);
        check(!/claude[_-]sync/.test(removed), `settings.json hooks after remove: ${removed}`);
        await screenshot(bench, 'beta-hooks-off');
      },
    },
    {
      name: 'beta: Set Up End-to-End Encryption shows the recovery phrase once, in a modal with a copy button, and the remote view says so',
      run: async () => {
        const bench = beta.bench!;
        await bench.closeToasts();
        repairOnRemote(work); // a tampered session would stop the sealing (covered by the unit tests)
        check(!encryptionOf(fx.beta.home).encrypted, 'the remote is encrypted before the test');
        await bench.runCommand('Claude Sync: Set Up End-to-End Encryption');
        await bench.answer('Recovery phrase and a passphrase');
        const box = bench.page.locator('.quick-input-widget input.input').first();
        await waitFor(async () => (await box.getAttribute('type')) === 'password', 'the passphrase box hides what is typed');
        await bench.answer(passphrase);
        await bench.answer(passphrase);
        const confirm = await bench.dialog(/Encrypt the sessions on/);
        check(/sealed now/.test((await bench.dialogText(confirm)).detail), 'the confirmation does not say the sessions get sealed');
        await screenshot(bench, 'beta-encryption-confirm');
        await bench.dialogButton(confirm, 'Turn On Encryption');
        const shown = await bench.dialog(/Write down your recovery phrase/);
        const { detail } = await bench.dialogText(shown);
        const words = detail.split('\n\n')[0].split(/\s+/);
        check(words.length === 24, `the phrase shows ${words.length} words:\n${detail}`);
        phrase = words.join(' ');
        await screenshot(bench, 'beta-recovery-phrase');
        await bench.dialogButton(shown, 'Copy Phrase');
        await bench.waitForToast(/the recovery phrase is on the clipboard/);
        await waitFor(async () => (await bench.clipboard()) === phrase, 'Copy Phrase puts the phrase on the clipboard');
        const state = encryptionOf(fx.beta.home);
        check(state.encrypted && state.joined, `after set-up: ${JSON.stringify(state)}`);
        await waitFor(async () => /end-to-end encrypted/.test(await bench.viewDescription('Remote Bundles')), 'the remote view says it is encrypted');
        // The sessions are sealed on the remote: no title is readable in the repository any more.
        const grep = spawnSync('git', ['--git-dir', fx.remote, 'grep', '-l', '-F', moved.title, 'main', '--'], { encoding: 'utf8' });
        check(grep.status === 1 && grep.stdout === '', `the remote's current state still holds the title: ${grep.stdout}${grep.stderr}`);
        await screenshot(bench, 'beta-encrypted');
      },
    },
    {
      name: 'beta: Show Recovery Phrase asks first, then shows the same phrase; it is in no log or settings file',
      run: async () => {
        const bench = beta.bench!;
        await bench.closeToasts();
        await bench.runCommand('Claude Sync: Show Recovery Phrase');
        const ask = await bench.dialog(/Show the recovery phrase\?/);
        check(/Anyone who sees it/.test((await bench.dialogText(ask)).detail), 'the confirmation does not warn');
        await bench.dialogButton(ask, 'Show Phrase');
        const shown = await bench.dialog(/your recovery phrase/);
        const again = (await bench.dialogText(shown)).detail.split('\n\n')[0].split(/\s+/).join(' ');
        check(again === phrase, 'a different phrase is shown the second time');
        await bench.page.keyboard.press('Escape');
        const state = path.join(work, 'code-server-beta');
        const leaks = [...filesHolding(state, phrase.split(' ').slice(0, 6).join(' ')), ...filesHolding(state, passphrase)];
        check(leaks.length === 0, `the phrase or passphrase is written in ${leaks.join(', ')}`);
        check(beta.extensionLog().includes('end-to-end encryption is on'), 'the extension log is not where the test looks');
      },
    },
    {
      name: 'beta: a Python path that does not work is reported with a way to fix it',
      run: async () => {
        const bench = beta.bench!;
        // A Python that runs but cannot import the sidecar: the sidecar is spawned at once (the
        // check that it can be imported comes only after a failed start) and its failure is
        // reported in the check's words, without restarting it again and again.
        const isolated = path.join(work, 'python3-isolated');
        fs.writeFileSync(isolated, '#!/bin/sh\nexec python3 -I "$@"\n', { mode: 0o755 });
        beta.server!.updateMachineSettings({ 'claudeSyncSessions.pythonPath': isolated });
        const missing = await bench.waitForToast(/Claude Sync could not start its Python sidecar/);
        check(/cannot import claude_sync's sidecar \(.*No module named 'claude_sync'/.test(missing), `the message does not say what is missing: ${missing}`);
        check(!/restarting it/.test(beta.extensionLog()), 'a sidecar that never started was restarted');
        await bench.closeToasts();
        beta.server!.updateMachineSettings({ 'claudeSyncSessions.pythonPath': '/nonexistent/python3' });
        const text = await bench.waitForToast(/Claude Sync could not start its Python sidecar/);
        check(text.includes('/nonexistent/python3'), `the message does not name the interpreter: ${text}`);
        await bench.statusItem(/Claude Sync: Hooks \?/).waitFor({ timeout: 30_000 });
        await screenshot(bench, 'beta-no-python');
      },
    },
    {
      name: "beta: the extension's page shows its icon and the README with its picture, from where images are published",
      run: async () => {
        const bench = beta.bench!;
        await bench.closeToasts();
        // The packaged README points its picture at the repository (https only on that page); the
        // test answers that address with the file from this checkout, so no network is used.
        const images = readmeImagesUrl(repo);
        const served: string[] = [];
        await bench.page.context().route(`${images}/**`, (route) => {
          const file = path.join(repo, decodeURIComponent(new URL(route.request().url()).pathname.slice(new URL(images).pathname.length + 1)));
          served.push(file);
          return fs.existsSync(file) && file.startsWith(repo + path.sep) ? route.fulfill({ path: file }) : route.fulfill({ status: 404 });
        });
        await bench.runCommand('Extensions: Show Installed Extensions');
        const entry = bench.page.locator('.extensions-viewlet .monaco-list-row').filter({ hasText: 'Claude Sync Sessions' }).first();
        await entry.waitFor({ timeout: 30_000 });
        const icon = entry.locator('img.icon').first();
        // The row appears before its icon has loaded: wait for the load, as for the README's picture below.
        await waitFor(
          () => icon.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete && (img as unknown as { naturalWidth: number }).naturalWidth > 0),
          'the icon loads in the extensions list',
        );
        await entry.click();
        // The README renders in a webview (an iframe in an iframe); scroll to its picture for the screenshot.
        await bench.page.locator('.extension-editor').first().waitFor({ timeout: 30_000 });
        // The webview's frames sit outside the editor in the DOM: look for the picture in every frame.
        const selector = 'img[src$="docs/images/claude-sync-view.png"]';
        let frame: Frame | undefined;
        await waitFor(async () => {
          for (const f of bench.page.frames()) if (await f.locator(selector).count().catch(() => 0)) frame = f;
          return frame !== undefined;
        }, 'the README picture is on the extension page');
        const picture = frame!.locator(selector).first();
        const src = (await picture.getAttribute('src')) ?? '';
        check(src === `${images}/docs/images/claude-sync-view.png`, `the picture points at ${src}`);
        await waitFor(
          () => picture.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete && (img as unknown as { naturalWidth: number }).naturalWidth > 0),
          'the README picture loads on the extension page',
        );
        check(served.length > 0, 'the picture was not fetched from where images are published');
        await picture.scrollIntoViewIfNeeded();
        await screenshot(bench, 'beta-extension-page');
      },
    },
    {
      name: 'alpha: the encrypted remote asks to join; a wrong passphrase is refused and nothing is stored',
      run: async () => {
        await beta.close();
        const bench = await alpha.open();
        await bench.waitForToast(/Could not list remote bundles: .*encrypted/);
        check(JSON.stringify(await bench.toastButtons(/Could not list remote bundles/)) === JSON.stringify(['Join Encryption', 'Show Details']), 'no Join Encryption button');
        await screenshot(bench, 'alpha-join-asked');
        await bench.toastButton(/Could not list remote bundles/, 'Join Encryption').click();
        await bench.answer('not the passphrase at all');
        await bench.waitForToast(/Could not join: .*nothing was stored/);
        check(!encryptionOf(fx.alpha.home).joined, 'a wrong passphrase was stored');
        await screenshot(bench, 'alpha-wrong-passphrase');
      },
    },
    {
      name: 'alpha: Try Again with the recovery phrase joins, and the remote sessions are listed, decrypted',
      run: async () => {
        const bench = alpha.bench!;
        await bench.toastButton(/Could not join/, 'Try Again').click();
        await bench.answer(phrase);
        await bench.waitForToast(/this device joined the end-to-end encryption/);
        check(encryptionOf(fx.alpha.home).joined, 'alpha has not joined after the right phrase');
        await bench.waitForRow('Remote Bundles', moved.title);
        await waitFor(async () => /end-to-end encrypted/.test(await bench.viewDescription('Remote Bundles')), 'the remote view says it is encrypted');
        const leaks = filesHolding(path.join(work, 'code-server-alpha'), phrase.split(' ').slice(0, 6).join(' '));
        check(leaks.length === 0, `the phrase is written in ${leaks.join(', ')}`);
        await screenshot(bench, 'alpha-joined');
      },
    },
    {
      name: 'alpha: Never Sync This Project marks its sessions "not synced by choice", and Sync Again undoes it',
      run: async () => {
        const bench = alpha.bench!;
        await bench.closeToasts();
        const dark = fx.sessions[2];
        await bench.contextMenu(bench.row('Local Sessions', 'acme/web'), 'Never Sync This Project');
        await bench.waitForToast(/the sessions of acme\/web are not synced any more/);
        // The project and its session, here and on the remote (the project row may have collapsed as it was redrawn).
        await waitFor(async () => (await bench.rowDescription(bench.row('Local Sessions', 'acme/web'))).endsWith('not synced by choice'), 'the project reads "not synced by choice"');
        await waitFor(async () => (await bench.rowDescription(bench.row('Remote Bundles', dark.title))).startsWith('not synced by choice'), 'its session reads "not synced by choice"');
        check(JSON.stringify(readConfig(alphaConfig).never_sync_projects) === '["acme/web"]', `config.json: ${JSON.stringify(readConfig(alphaConfig))}`);
        await screenshot(bench, 'alpha-never-sync');
        await bench.contextMenu(bench.row('Local Sessions', 'acme/web'), 'Sync Again');
        await bench.waitForToast(/acme\/web syncs again/);
        await waitFor(async () => !(await bench.rowDescription(bench.row('Local Sessions', 'acme/web'))).includes('not synced by choice'), 'the project syncs again');
        await waitFor(async () => !(await bench.rowDescription(bench.row('Remote Bundles', dark.title))).includes('not synced by choice'), 'its session syncs again');
        check(JSON.stringify(readConfig(alphaConfig).never_sync_projects ?? []) === '[]', `config.json: ${JSON.stringify(readConfig(alphaConfig))}`);
      },
    },
    {
      name: 'alpha: Delete Session everywhere says what happens first, then the copy goes to the backups and the remote shows it deleted',
      run: async () => {
        const bench = alpha.bench!;
        await bench.closeToasts();
        const limits = fx.sessions[1];
        await bench.contextMenu(bench.row('Local Sessions', limits.title), 'Delete Session…');
        await bench.answer('Everywhere');
        const confirm = await bench.dialog(/Delete ".*" everywhere\?/);
        const { detail } = await bench.dialogText(confirm);
        check(/moves into the backups/.test(detail) && /claude-sync restore/.test(detail) && /tombstone/.test(detail), `the confirmation reads:\n${detail}`);
        await screenshot(bench, 'alpha-delete-confirm');
        await bench.dialogButton(confirm, 'Delete');
        await bench.waitForToast(new RegExp(`Deleted "${escapeRegExp(limits.title)}"`));
        await waitFor(async () => (await bench.row('Local Sessions', limits.title).count()) === 0, 'the session leaves Local Sessions');
        check(!fs.existsSync(limits.transcript), 'the transcript is still in ~/.claude');
        const backups = path.join(fx.alpha.home, '.claude-sync-sessions', 'backups');
        check(filesHolding(backups, limits.id).length > 0, `no backup of ${limits.id} under ${backups}`);
        // On the remote a tombstone stands in for it (no title left: the sidecar lists it as "(deleted)").
        await waitFor(async () => (await bench.row('Remote Bundles', limits.title).count()) === 0, 'the session leaves Remote Bundles');
        await waitFor(async () => (await bench.rowDescription(bench.row('Remote Bundles', '(deleted)'))).startsWith('deleted'), 'a row reads "deleted"');
        await screenshot(bench, 'alpha-deleted');
        await alpha.close();
      },
    },
  ];

  let passed = 0;
  let failed = 0;
  const started = Date.now();
  try {
    for (const step of steps) {
      if (failed) {
        console.log(`ui: - ${step.name} (not run)`);
        failed++;
        continue;
      }
      const t = Date.now();
      try {
        await step.run();
        passed++;
        console.log(`ui: ✔ ${step.name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed++;
        console.log(`ui: ✖ ${step.name}\n    ${e instanceof Error ? e.message.split('\n').join('\n    ') : String(e)}`);
        for (const d of [gamma, alpha, beta]) {
          if (d.bench) await d.bench.screenshot(`failure-${d.name}`).catch(() => undefined);
          const log = d.extensionLog();
          if (log) fs.writeFileSync(path.join(artifacts, `${d.name}-extension.log`), log);
          if (d.server) fs.copyFileSync(d.server.log, path.join(artifacts, `${d.name}-code-server.log`));
        }
        console.log(`    screenshots and logs: ${path.relative(repo, artifacts)}/`);
      }
    }
  } finally {
    await stopAll();
  }

  if (!failed && process.env.CLAUDE_SYNC_UI_DOCS_IMAGE) {
    const image = path.join(repo, 'docs', 'images', 'claude-sync-view.png');
    fs.mkdirSync(path.dirname(image), { recursive: true });
    const shot = fs.readdirSync(artifacts).find((f) => f.endsWith('-alpha-remote-bundles.png'))!;
    fs.copyFileSync(path.join(artifacts, shot), image);
    console.log(`ui: updated ${path.relative(repo, image)}`);
  }
  if (failed || process.env.CLAUDE_SYNC_UI_KEEP) console.log(`ui: fixtures kept in ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
  console.log(`ui: screenshots in ${path.relative(repo, artifacts)}/ (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  console.log(`ui: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`ui: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    console.log('ui: 0 passed, 1 failed');
    process.exit(1);
  },
);
