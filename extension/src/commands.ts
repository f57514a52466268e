// The commands. Each one asks the sidecar to do the work and turns the answer (or the error) into
// a message; none of them throws into VS Code.
import * as os from 'os';
import { ProgressLocation, Uri, type Disposable } from 'vscode';
import { SidecarUnavailable, remedyAction, reportError, showMessage } from './errors';
import { outcomeLine, summaryLine, tildify } from './format';
import { showLog, traceError, traceInfo } from './log';
import {
  Method,
  type CheckParams,
  type ConfigParams,
  type HooksState,
  type ProgressEvent,
  type RemoteCheck,
  type Repository,
  type Selection,
  type SidecarApi,
  type Status,
  type Summary,
  type SyncAction,
} from './protocol';
import type { EncryptionCommands } from './encryption';
import type { DeletableNode, RemovalCommands } from './removal';
import type { SessionCommands, SessionNode } from './sessionCommands';
import type { HooksStatusBar } from './statusBar';
import type { LocalProjectItem, LocalSessionItem, RemoteProjectItem, RemoteSessionItem } from './views';
import {
  executeCommand,
  registerCommand,
  showInformationMessage,
  showInputBox,
  showOpenDialog,
  showQuickPick,
  showWarningMessage,
  withProgress,
} from './vscodeapi';

/** Where the server token lives in VS Code's SecretStorage (never in settings). */
export const TOKEN_SECRET = 'claudeSyncSessions.serverToken';

export interface Secrets {
  get(key: string): Thenable<string | undefined>;
  store(key: string, value: string): Thenable<void>;
}

export interface Refreshable {
  refresh(): void;
}

/** Where failures of the last upload or download are shown (a read-only document). */
export interface FailureReport {
  show(action: SyncAction, summary: Summary): Promise<void>;
}

/** config.json shown in the Settings editor (configMirror.ts). */
export interface ConfigShown {
  show(status: Status, first?: boolean): Promise<unknown>;
}

export interface ControllerDeps {
  sidecar: SidecarApi & { restart?(): Promise<void>; readonly running?: boolean; readonly problem?: string };
  local: Refreshable;
  remote: Refreshable;
  statusBar: HooksStatusBar;
  secrets: Secrets;
  mirror?: ConfigShown;
  failures?: FailureReport;
}

export const SHOW_FAILURES = 'Show Failures';
export const SAVE_ANYWAY = 'Save Anyway';

export class Controller {
  private readonly progressListeners = new Map<string, (p: ProgressEvent) => void>();
  private operations = 0;

  constructor(private readonly deps: ControllerDeps) {}

  // --- sync ---------------------------------------------------------------------------------

  uploadSession(item: LocalSessionItem): Promise<Summary | undefined> {
    const title = item.session.title || item.session.sessionId.slice(0, 8);
    return this.sync('push', { sessionIds: [item.session.sessionId] }, `Uploading "${title}"`);
  }

  uploadProject(item: LocalProjectItem): Promise<Summary | undefined> {
    const key = item.group.projectKey ?? '';
    return this.sync('push', { project: key }, `Uploading ${key}`);
  }

  uploadAll(): Promise<Summary | undefined> {
    return this.sync('push', { all: true }, 'Uploading all sessions');
  }

  downloadSession(item: RemoteSessionItem): Promise<Summary | undefined> {
    const title = item.entry.title || item.entry.sessionId.slice(0, 8);
    return this.sync('pull', { sessionIds: [item.entry.sessionId] }, `Downloading "${title}"`);
  }

  downloadProject(item: RemoteProjectItem): Promise<Summary | undefined> {
    return this.sync('pull', { project: item.projectKey }, `Downloading ${item.projectKey}`);
  }

  downloadAll(): Promise<Summary | undefined> {
    return this.sync('pull', { all: true }, 'Downloading all sessions');
  }

  /** Feeds a claudeSync/progress notification to the operation it belongs to. */
  onProgress(p: ProgressEvent): void {
    this.progressListeners.get(p.operationId)?.(p);
  }

  /** Runs a push or pull under a cancellable progress notification, then shows the summary. */
  async sync(action: SyncAction, selection: Selection, title: string): Promise<Summary | undefined> {
    const operationId = `${action}-${process.pid}-${++this.operations}`;
    const method = action === 'push' ? Method.push : Method.pull;
    let summary: Summary;
    try {
      summary = await withProgress({ location: ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
        this.progressListeners.set(operationId, (p) => {
          progress.report({ message: p.message || `${p.done}/${p.total}`, increment: p.total ? 100 / p.total : undefined });
        });
        const cancelling = token.onCancellationRequested(() => {
          // $/cancelRequest cannot stop a worker thread: the sidecar has its own cancel, and still answers with a summary.
          this.deps.sidecar.request(Method.cancel, { operationId }).then(undefined, (e) => traceError('cancel failed', e));
        });
        try {
          return await this.deps.sidecar.request<Summary>(method, { operationId, ...selection });
        } finally {
          cancelling.dispose();
          this.progressListeners.delete(operationId);
        }
      });
    } catch (e) {
      await reportError(e, action === 'push' ? 'Upload failed' : 'Download failed');
      return undefined;
    } finally {
      // Even a failed batch may have changed something.
      this.deps.remote.refresh();
      if (action === 'pull') this.deps.local.refresh();
    }
    await this.reportSummary(action, summary);
    return summary;
  }

  private async reportSummary(action: SyncAction, s: Summary): Promise<void> {
    const verb = action === 'push' ? 'upload' : 'download';
    for (const o of s.outcomes) {
      const line = `${verb} ${o.status}: ${o.title || '(untitled)'} (${o.sessionId})${o.reason ? `: ${o.reason}` : ''}`;
      if (o.status === 'failed') traceError(line);
      else traceInfo(line);
    }
    const text = s.text ?? (s.outcomes.length === 1 ? outcomeLine(action, s.outcomes[0]) : summaryLine(action, s));
    if (s.failed > 0) {
      const picked = await showWarningMessage(text, SHOW_FAILURES);
      if (picked === SHOW_FAILURES) {
        if (this.deps.failures) await this.deps.failures.show(action, s);
        else showLog();
      }
    } else {
      void showInformationMessage(text);
    }
  }

  // --- refresh and settings -------------------------------------------------------------------

  refreshLocal(): void {
    this.deps.local.refresh();
  }

  refreshRemote(): void {
    this.deps.remote.refresh();
  }

  /** A (re)started sidecar: config.json into the Settings editor, and the stored token handed over. */
  async start(): Promise<Status> {
    const status = await this.deps.sidecar.request<Status>(Method.status, {});
    this.showStatus(status);
    await this.deps.mirror?.show(status, true);
    // The token lives in VS Code's SecretStorage; the sidecar keeps it where the CLI and hooks find it.
    const token = await this.deps.secrets.get(TOKEN_SECRET);
    const serverUrl = status.config?.serverUrl;
    if (token && serverUrl) await this.deps.sidecar.request(Method.setToken, { token, serverUrl });
    return status;
  }

  /** config.json changed (here, in a terminal, or through the hooks): show it everywhere. */
  async configChanged(): Promise<void> {
    try {
      const status = await this.deps.sidecar.request<Status>(Method.status, {});
      this.showStatus(status);
      await this.deps.mirror?.show(status);
    } catch (e) {
      this.deps.statusBar.update(undefined, e instanceof Error ? e.message : String(e));
    }
  }

  async refreshStatus(): Promise<void> {
    try {
      this.showStatus(await this.deps.sidecar.request<Status>(Method.status, {}));
    } catch (e) {
      this.deps.statusBar.update(undefined, e instanceof Error ? e.message : String(e));
    }
  }

  /** The hooks in the status bar; whether the device and the remote are set, for the views' welcome text. */
  showStatus(status: Status): void {
    this.deps.statusBar.update(status.hooks);
    setContext('claudeSync.configured', status.configured);
    setContext('claudeSync.remoteConfigured', Boolean(status.remote));
  }

  private async currentStatus(): Promise<Status | undefined> {
    try {
      return await this.deps.sidecar.request<Status>(Method.status, {});
    } catch {
      return undefined; // the commands still work from the settings alone
    }
  }

  /** Saves to config.json through the sidecar; the settings and the views follow. */
  private async configure(params: ConfigParams): Promise<Status> {
    const status = await this.deps.sidecar.request<Status>(Method.configure, params);
    this.showStatus(status);
    await this.deps.mirror?.show(status);
    this.deps.local.refresh();
    this.deps.remote.refresh();
    return status;
  }

  async configureDevice(): Promise<void> {
    const status = await this.currentStatus();
    const current = status?.config;
    const deviceName = await showInputBox({
      title: 'Claude Sync: Configure Device (1/2)',
      prompt: 'A name for this device, shown on the sessions it uploads',
      value: current?.deviceName || status?.defaultDeviceName || os.hostname().split('.')[0],
      ignoreFocusOut: true,
      validateInput: validateDeviceName,
    });
    if (deviceName === undefined) return;
    const root = current?.projectsRoot || os.homedir();
    const picked = await showOpenDialog({
      title: 'Claude Sync: the folder your projects live under (2/2)',
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      defaultUri: Uri.file(root),
      openLabel: 'Use as Projects Root',
    });
    if (!picked || picked.length === 0) return;
    const saved = await this.configure({ deviceName: deviceName.trim(), projectsRoot: picked[0].fsPath });
    void showInformationMessage(
      `Claude Sync: this device is "${saved.config?.deviceName ?? deviceName.trim()}", projects under ${saved.config?.projectsRoot ?? picked[0].fsPath}.`,
    );
  }

  /** Pins the folder a repository's sessions go to on this device (from the tree, or a quick pick). */
  async chooseRepositoryFolder(item?: RemoteProjectItem): Promise<string | undefined> {
    let repository = item?.repository;
    if (!repository) {
      const { repositories } = await this.deps.sidecar.request<{ repositories: Repository[] }>(Method.repositories, {});
      const pick = await showQuickPick(
        repositories.map((r) => ({ label: r.name, description: r.folder ?? 'no local checkout', detail: r.identity, identity: r.identity })),
        { title: 'Claude Sync: Choose the Folder of a Repository', placeHolder: 'Where its sessions go on this device' },
      );
      if (!pick) return undefined;
      repository = pick.identity;
    }
    const picked = await showOpenDialog({
      title: `Claude Sync: this device's checkout of ${repository}`,
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      openLabel: 'Use This Folder',
    });
    if (!picked || picked.length === 0) return undefined;
    const folder = picked[0].fsPath;
    await this.deps.sidecar.request<{ repositories: Repository[] }>(Method.mapRepository, { repository, folder });
    this.deps.remote.refresh();
    void showInformationMessage(`Claude Sync: sessions of ${repository} now go to ${folder}.`);
    return folder;
  }

  /** Clones a repository that has no checkout here into a folder the user picks; its sessions go there. */
  async cloneRepository(item?: RemoteProjectItem): Promise<string | undefined> {
    const { repositories } = await this.deps.sidecar.request<{ repositories: Repository[] }>(Method.repositories, {});
    let repo = item?.repository ? repositories.find((r) => r.identity === item.repository) : undefined;
    if (!repo) {
      const pick = await showQuickPick(
        repositories.filter((r) => !r.folder).map((r) => ({ label: r.name, detail: r.identity, repo: r })),
        { title: 'Claude Sync: Clone a Repository', placeHolder: 'A repository whose sessions have no checkout on this device' },
      );
      if (!pick) return undefined;
      repo = pick.repo;
    }
    const url = await showInputBox({
      title: `Claude Sync: clone ${repo.name}`,
      prompt: `The URL to clone ${repo.identity} from (any spelling of it, e.g. SSH instead of HTTPS)`,
      value: repo.cloneUrl,
      ignoreFocusOut: true,
    });
    if (!url) return undefined;
    const parent = await showOpenDialog({
      title: `Claude Sync: the folder to clone ${repo.name} into`,
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      openLabel: 'Clone Here',
    });
    if (!parent || parent.length === 0) return undefined;
    const repository = repo.identity;
    const { folder } = await withProgress({ location: ProgressLocation.Notification, title: `Claude Sync: cloning ${repo.name}…` }, () =>
      this.deps.sidecar.request<{ folder: string; repositories: Repository[] }>(Method.cloneRepository, { repository, parent: parent[0].fsPath, url }),
    );
    this.deps.remote.refresh();
    void showInformationMessage(`Claude Sync: cloned ${repository} into ${folder}; its sessions go there.`);
    return folder;
  }

  async setGitRepoUrl(): Promise<void> {
    const current = (await this.currentStatus())?.config;
    const url = await showInputBox({
      title: 'Claude Sync: Set Git Repository URL',
      prompt: 'Your private Git repository: SSH (git@host:me/sessions.git), HTTPS or a local path',
      value: current?.gitRepoUrl || '',
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : 'Enter a repository URL or path'),
    });
    if (url === undefined) return;
    await this.testThenSave({ backend: 'git', gitRepoUrl: url.trim(), gitBranch: current?.gitBranch }, () =>
      this.configure({ gitRepoUrl: url.trim(), backend: 'git' }),
    );
  }

  async setServerUrl(): Promise<void> {
    const current = await this.currentStatus();
    const url = await showInputBox({
      title: 'Claude Sync: Set Server URL (1/2)',
      prompt: 'Your claude-sync server, e.g. https://sync.example.com',
      value: current?.config?.serverUrl || '',
      ignoreFocusOut: true,
      validateInput: validateServerUrl,
    });
    if (url === undefined) return;
    const token = await this.askToken(url.trim(), 'Claude Sync: Set Server URL (2/2)');
    if (token === undefined) return;
    await this.testThenSave({ backend: 'server', serverUrl: url.trim(), token: token || undefined, caBundle: current?.config?.caBundle ?? undefined }, async () => {
      if (token) await this.storeToken(token, url.trim());
      await this.configure({ serverUrl: url.trim(), backend: 'server' });
    });
  }

  /** Asks for the server's token again (after the server refused it), tests it, then keeps it. */
  async setToken(): Promise<void> {
    const config = (await this.currentStatus())?.config;
    const url = config?.serverUrl;
    if (!url) {
      await this.setServerUrl();
      return;
    }
    const token = await this.askToken(url, 'Claude Sync: Set Token', true);
    if (!token) return;
    await this.testThenSave({ backend: 'server', serverUrl: url, token, caBundle: config.caBundle ?? undefined }, async () => {
      await this.storeToken(token, url);
      this.deps.remote.refresh();
    });
  }

  private async askToken(url: string, title: string, required = false): Promise<string | undefined> {
    const hasToken = !required && Boolean(await this.deps.secrets.get(TOKEN_SECRET));
    const token = await showInputBox({
      title,
      prompt: hasToken ? `The access token for ${url} (leave empty to keep the stored one)` : `The access token ${url} gave you`,
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() || hasToken ? undefined : 'Enter the token'),
    });
    return token?.trim();
  }

  private async storeToken(token: string, serverUrl: string): Promise<void> {
    await this.deps.secrets.store(TOKEN_SECRET, token);
    await this.deps.sidecar.request(Method.setToken, { token, serverUrl });
  }

  /** Tests a remote (reachable, authorised, writable) and saves it when it passes, or when the user says so. */
  private async testThenSave(params: CheckParams, save: () => Promise<unknown>): Promise<RemoteCheck> {
    const where = params.backend === 'git' ? params.gitRepoUrl : params.serverUrl;
    const check = await withProgress({ location: ProgressLocation.Notification, title: `Claude Sync: testing ${where}…` }, () =>
      this.deps.sidecar.request<RemoteCheck>(Method.checkRemote, params),
    );
    if (check.ok) {
      await save();
      void showInformationMessage(`Claude Sync: saved. ${capitalise(check.message)}`);
      return check;
    }
    const severity = check.severity === 'error' ? 'error' : 'warning';
    const picked = await showMessage(
      { severity, text: `Claude Sync: not saved. ${capitalise(check.message)}`, actions: check.remedies.map(remedyAction) },
      SAVE_ANYWAY,
    );
    if (picked === SAVE_ANYWAY) {
      await save();
      void showWarningMessage(`Claude Sync: saved, though ${check.message}`);
    }
    return check;
  }

  // --- hooks ------------------------------------------------------------------------------------

  async installHooks(): Promise<HooksState | undefined> {
    return this.hooks('install');
  }

  async removeHooks(): Promise<HooksState | undefined> {
    return this.hooks('remove');
  }

  async toggleHooks(): Promise<HooksState | undefined> {
    const known = this.deps.statusBar.state ?? (await this.deps.sidecar.request<HooksState>(Method.hooks, { action: 'status' }));
    return this.hooks(known.installed ? 'remove' : 'install');
  }

  private async hooks(action: 'install' | 'remove'): Promise<HooksState | undefined> {
    const previous = this.deps.statusBar.state;
    this.deps.statusBar.busy();
    try {
      const state = await this.deps.sidecar.request<HooksState>(Method.hooks, { action });
      this.deps.statusBar.update(state);
      const where = tildify(state.settingsPath);
      void showInformationMessage(
        state.installed ? `Claude Sync: auto-sync hooks installed in ${where}.` : `Claude Sync: auto-sync hooks removed from ${where}.`,
      );
      return state;
    } catch (e) {
      this.deps.statusBar.update(previous);
      await reportError(e, action === 'install' ? 'Could not install the hooks' : 'Could not remove the hooks');
      return undefined;
    }
  }

  /** Restarts the sidecar (also after the Python setting changed); a failed start is reported. */
  async restartSidecar(): Promise<void> {
    const sidecar = this.deps.sidecar;
    if (!sidecar.restart) return;
    await sidecar.restart();
    if (!sidecar.running) {
      this.deps.statusBar.update(undefined, sidecar.problem);
      await reportError(new SidecarUnavailable(sidecar.problem ?? 'it did not start'));
    }
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function setContext(key: string, value: boolean): void {
  void executeCommand('setContext', key, value).then(undefined, () => undefined);
}

export function validateDeviceName(v: string): string | undefined {
  const name = v.trim();
  if (!name) return 'Enter a name';
  if (/[/\\\n\r\t]/.test(name)) return 'One line, without slashes';
  return undefined;
}

export function validateServerUrl(v: string): string | undefined {
  return /^https?:\/\/\S+$/.test(v.trim()) ? undefined : 'Enter an http:// or https:// URL';
}

/** Registers every command; a failure becomes a message, never an exception in VS Code. */
export function registerCommands(c: Controller, sessions?: SessionCommands, more: { encryption?: EncryptionCommands; removal?: RemovalCommands } = {}): Disposable[] {
  const commands: Record<string, (...args: any[]) => unknown> = {
    // A row redrawn between the click and the command arrives as undefined: the selected row stands in.
    'claudeSync.uploadSession': (item?: LocalSessionItem) => c.uploadSession((item ?? sessions?.selectedLocal()) as LocalSessionItem),
    'claudeSync.uploadProject': (item: LocalProjectItem) => c.uploadProject(item),
    'claudeSync.uploadAll': () => c.uploadAll(),
    'claudeSync.downloadSession': (item?: RemoteSessionItem) => c.downloadSession((item ?? sessions?.selectedRemote()) as RemoteSessionItem),
    'claudeSync.downloadProject': (item: RemoteProjectItem) => c.downloadProject(item),
    'claudeSync.downloadAll': () => c.downloadAll(),
    'claudeSync.chooseRepositoryFolder': (item?: RemoteProjectItem) => c.chooseRepositoryFolder(item),
    'claudeSync.cloneRepository': (item?: RemoteProjectItem) => c.cloneRepository(item),
    'claudeSync.refreshLocal': () => c.refreshLocal(),
    'claudeSync.refreshRemote': () => c.refreshRemote(),
    'claudeSync.configureDevice': () => c.configureDevice(),
    'claudeSync.setGitRepoUrl': () => c.setGitRepoUrl(),
    'claudeSync.setServerUrl': () => c.setServerUrl(),
    'claudeSync.setToken': () => c.setToken(),
    'claudeSync.installHooks': () => c.installHooks(),
    'claudeSync.removeHooks': () => c.removeHooks(),
    'claudeSync.toggleHooks': () => c.toggleHooks(),
    'claudeSync.showOutput': () => showLog(),
    'claudeSync.restartSidecar': () => c.restartSidecar(),
  };
  if (sessions) {
    Object.assign(commands, {
      'claudeSync.openTranscript': (n?: SessionNode) => sessions.openTranscript(n),
      'claudeSync.transcriptNextPart': (uri?: Uri) => sessions.nextPart(uri),
      'claudeSync.resumeSession': (n?: SessionNode) => sessions.resume(n),
      'claudeSync.copySessionId': (n?: SessionNode) => sessions.copySessionId(n),
      'claudeSync.revealSessionFile': (n?: SessionNode) => sessions.revealFile(n),
      'claudeSync.compareSession': (n?: SessionNode) => sessions.compare(n),
      'claudeSync.uploadChanged': () => sessions.uploadChanged(),
      'claudeSync.downloadNew': () => sessions.downloadNew(),
      'claudeSync.filterSessions': () => sessions.filter(),
      'claudeSync.clearFilter': () => sessions.clearFilter(),
    });
  }
  const { encryption, removal } = more;
  if (encryption) {
    Object.assign(commands, {
      'claudeSync.setUpEncryption': () => encryption.setUp(),
      'claudeSync.joinEncryption': () => encryption.join(),
      'claudeSync.showRecoveryPhrase': () => encryption.showPhrase(),
    });
  }
  if (removal) {
    Object.assign(commands, {
      'claudeSync.deleteSession': (n?: DeletableNode) => removal.delete(n),
      'claudeSync.neverSyncSession': (n?: LocalSessionItem) => removal.neverSyncSession(n),
      'claudeSync.neverSyncProject': (n?: LocalProjectItem) => removal.neverSyncProject(n),
      'claudeSync.syncAgain': (n?: LocalSessionItem | LocalProjectItem) => removal.syncAgain(n),
    });
  }
  return Object.entries(commands).map(([id, run]) => registerCommand(id, (...args: unknown[]) => safely(id, () => run(...args))));
}

/** Runs a command; whatever it throws is shown as a message and logged. */
export async function safely<T>(id: string, run: () => T | Thenable<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (e) {
    await reportError(e, `Claude Sync (${id.replace('claudeSync.', '')})`);
    return undefined;
  }
}
