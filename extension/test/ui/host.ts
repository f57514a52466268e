// code-server, the VS Code that runs here: installed by scripts/install-ui-test-deps.sh into a
// cache, started per device with its own user-data, extensions and XDG folders, bound to
// 127.0.0.1, in its own process group so that stopping it stops the extension host and sidecar too.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface HostTools {
  node: string;
  codeServer: string;
  chromium: string;
}

export function hostTools(): HostTools {
  const cache = process.env.CLAUDE_SYNC_UI_CACHE ?? path.join(os.homedir(), '.cache', 'claude-sync-sessions', 'code-server');
  const file = path.join(cache, 'env.json');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run scripts/install-ui-test-deps.sh`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as HostTools;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** User settings that keep the workbench quiet and predictable. */
const QUIET_SETTINGS = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'update.mode': 'none',
  'chat.disableAIFeatures': true,
  'window.zoomLevel': 0,
};

export interface CodeServerOptions {
  /** Folder for this instance's own state (user data, extensions, XDG dirs, log). */
  stateDir: string;
  /** The fixture device's home: the extension (and its sidecar) see this ~/.claude. */
  home: string;
  /** A folder to open in the workbench. */
  workspace: string;
  /** Extra environment for code-server and so the extension host (e.g. CLAUDE_SYNC_PYTHON). */
  env?: Record<string, string>;
  settings?: Record<string, unknown>;
}

export class CodeServer {
  private process: ChildProcess | undefined;
  port = 0;
  readonly log: string;
  private readonly dirs: Record<'userData' | 'extensions' | 'xdgData' | 'xdgCache' | 'xdgConfig', string>;

  constructor(
    private readonly tools: HostTools,
    private readonly options: CodeServerOptions,
  ) {
    const d = (name: string) => path.join(options.stateDir, name);
    this.dirs = { userData: d('user-data'), extensions: d('extensions'), xdgData: d('xdg-data'), xdgCache: d('xdg-cache'), xdgConfig: d('xdg-config') };
    for (const dir of Object.values(this.dirs)) fs.mkdirSync(dir, { recursive: true });
    this.log = d('code-server.log');
    const user = path.join(this.dirs.userData, 'User');
    fs.mkdirSync(user, { recursive: true });
    fs.writeFileSync(path.join(user, 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...options.settings }, null, 2));
  }

  /**
   * Changes the machine ("Remote [code-server]") settings while running, as the Settings editor
   * would: the extension host runs on this machine, so machine-scoped settings live there.
   */
  updateMachineSettings(changes: Record<string, unknown>): void {
    const file = path.join(this.dirs.userData, 'Machine', 'settings.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const current = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
    fs.writeFileSync(file, JSON.stringify({ ...current, ...changes }, null, 2));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(this.options.workspace)}`;
  }

  private env(): NodeJS.ProcessEnv {
    const keep = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
    const env: NodeJS.ProcessEnv = {};
    for (const k of keep) if (process.env[k]) env[k] = process.env[k];
    return {
      ...env,
      HOME: this.options.home,
      XDG_DATA_HOME: this.dirs.xdgData,
      XDG_CACHE_HOME: this.dirs.xdgCache,
      XDG_CONFIG_HOME: this.dirs.xdgConfig,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      ...this.options.env,
    };
  }

  private args(port: number): string[] {
    const config = path.join(this.options.stateDir, 'config.yaml');
    fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
    return [
      this.tools.codeServer,
      '--config', config,
      '--user-data-dir', this.dirs.userData,
      '--extensions-dir', this.dirs.extensions,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
    ];
  }

  installExtension(vsix: string): void {
    const r = spawnSync(this.tools.node, [...this.args(0), '--install-extension', vsix, '--force'], {
      env: this.env(),
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0) throw new Error(`installing ${vsix} failed:\n${r.stdout}\n${r.stderr}`);
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const out = fs.openSync(this.log, 'a');
    this.process = spawn(this.tools.node, [...this.args(this.port), this.options.workspace], {
      env: this.env(),
      cwd: this.options.workspace,
      detached: true, // its own process group: stop() ends the extension host and the sidecar with it
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    await this.waitHealthy();
  }

  private async waitHealthy(): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.process?.exitCode !== null) throw new Error(`code-server exited; see ${this.log}`);
      try {
        const r = await fetch(`http://127.0.0.1:${this.port}/healthz`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`code-server did not answer /healthz within 60 s; see ${this.log}`);
  }

  /** Stops the whole process group: code-server, its file watcher, the extension host, the sidecar. */
  async stop(): Promise<void> {
    const p = this.process;
    this.process = undefined;
    if (!p?.pid || p.exitCode !== null) return;
    const group = -p.pid;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    try {
      process.kill(group, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(group, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
    // The group may outlive its leader by a moment (the watcher, the sidecar): make sure it is gone.
    try {
      process.kill(group, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function buildDevVsix(repo: string, work: string): string {
  // The extension without bundled libraries: the sidecar runs in the repository's .venv.
  const ignore = path.join(work, 'dev.vscodeignore');
  fs.writeFileSync(ignore, `${fs.readFileSync(path.join(repo, '.vscodeignore'), 'utf8')}\nextension/bundled/**\n`);
  const out = path.join(work, 'claude-sync-sessions-dev.vsix');
  // The README's links as the release package has them (scripts/package-extension.sh).
  const readmeUrls = execFileSync('node', [path.join(repo, 'extension', 'readme-urls.mjs')], { encoding: 'utf8' }).trim().split('\n');
  execFileSync('npx', ['vsce', 'package', '--no-dependencies', ...readmeUrls, '--ignoreFile', ignore, '-o', out], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return out;
}

/** Where the packaged README's images point (package.json's repository; extension/readme-urls.mjs). */
export function readmeImagesUrl(repo: string): string {
  const flags = execFileSync('node', [path.join(repo, 'extension', 'readme-urls.mjs')], { encoding: 'utf8' }).trim().split('\n');
  return flags[flags.indexOf('--baseImagesUrl') + 1];
}

/** The extension's own logs (its output channel) under a code-server state folder, one per start. */
export function extensionLogs(stateDir: string): string[] {
  return workbenchLogs(stateDir, /Claude Sync\.log$/);
}

/** The workbench's log files whose names match, under a code-server state folder, one per start. */
export function workbenchLogs(stateDir: string, name: RegExp): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (name.test(e.name)) found.push(p);
    }
  };
  walk(path.join(stateDir, 'user-data', 'logs'));
  return found;
}
