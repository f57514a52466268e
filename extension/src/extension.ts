// Wiring: logger, sidecar, views, status bar, commands. All logic lives in the Python sidecar.
// Imported first: its step marks the start of the bundle's evaluation.
import { startStep } from './startTimeline';
import * as fs from 'fs';
import * as path from 'path';
import type { ExtensionContext } from 'vscode';
import { Controller, TOKEN_SECRET, registerCommands } from './commands';
import { ConfigMirror } from './configMirror';
import { EncryptionCommands } from './encryption';
import { SidecarUnavailable, reportError } from './errors';
import { setLogChannel, traceInfo } from './log';
import { Notification, type ChangedEvent, type ProgressEvent } from './protocol';
import { FailureDocuments } from './reports';
import { affectsPython, readSettings } from './settings';
import type { KnownPython } from './python';
import { Sidecar } from './sidecar';
import { HooksStatusBar } from './statusBar';
import { SyncDecorations } from './decorations';
import { RemovalCommands } from './removal';
import { SessionCommands, type SessionNode } from './sessionCommands';
import { TRANSCRIPT_SCHEME, TranscriptDocuments } from './transcripts';
import { CACHED_DRAW_MS, LocalSessionItem, LocalSessionsProvider, RemoteBundlesProvider, RemoteSessionItem, type ListingCache } from './views';
import * as api from './vscodeapi';

startStep('bundle evaluated');
let sidecar: Sidecar | undefined;

export const WATCH_DEBOUNCE_MS = 1000;
const KNOWN_PYTHON = 'knownPython';

/** The last listings, in the extension's storage folder: shown at once on the next start (and the interpreter's version). */
function listingCache(folder: string): ListingCache {
  const file = (key: string) => path.join(folder, `${key}.json`);
  return {
    read<T>(key: string): T | undefined {
      try {
        return JSON.parse(fs.readFileSync(file(key), 'utf8')) as T;
      } catch {
        return undefined;
      }
    },
    has(key: string): boolean {
      return fs.existsSync(file(key));
    },
    write(key: string, value: unknown): void {
      // Best effort, off the critical path: a lost cache only costs a slower next start.
      void fs.promises
        .mkdir(folder, { recursive: true })
        .then(() => fs.promises.writeFile(`${file(key)}.tmp`, JSON.stringify(value)))
        .then(() => fs.promises.rename(`${file(key)}.tmp`, file(key)))
        .catch(() => undefined);
    },
  };
}

export async function activate(context: ExtensionContext): Promise<{ sidecar: Sidecar; controller: Controller }> {
  startStep('activate() called');
  const channel = api.createOutputChannel('Claude Sync');
  setLogChannel(channel);
  traceInfo(`Claude Sync ${context.extension.packageJSON.version} activating`);

  const cache = listingCache(context.globalStorageUri.fsPath);
  // A file beside the listings, not the global state: that is saved only when the window closes well.
  const knownPython: KnownPython = {
    get: () => cache.read<ReturnType<KnownPython['get']> | null>(KNOWN_PYTHON) ?? undefined,
    set: (key, version) => cache.write(KNOWN_PYTHON, { key, version }),
    forget: () => cache.write(KNOWN_PYTHON, null),
  };
  sidecar = new Sidecar(context.extensionPath, channel, () => readSettings().pythonPath, knownPython);
  const local = new LocalSessionsProvider(sidecar, cache);
  const remote = new RemoteBundlesProvider(sidecar, cache);
  const statusBar = new HooksStatusBar();
  const failures = new FailureDocuments();
  const mirror = new ConfigMirror(sidecar, context.globalState, (status) => {
    controller.showStatus(status);
    local.refresh();
    remote.refresh();
  });
  const controller = new Controller({ sidecar, local, remote, statusBar, secrets: context.secrets, mirror, failures });
  const localView = api.createTreeView('claudeSync.localSessions', { treeDataProvider: local, showCollapseAll: true });
  const remoteView = api.createTreeView('claudeSync.remoteBundles', { treeDataProvider: remote, showCollapseAll: true });
  local.attach(localView);
  remote.attach(remoteView);
  const encryption = new EncryptionCommands({
    sidecar,
    shown: {
      showEncryption: (status) => {
        remote.showEncryption(status);
        statusBar.showEncryption(status);
      },
    },
    refreshViews: () => (local.refresh(), remote.refresh()),
  });
  const transcripts = new TranscriptDocuments(sidecar);
  const selected = (view: { selection: readonly unknown[] }) => (): SessionNode | undefined =>
    view.selection.find((n): n is SessionNode => n instanceof LocalSessionItem || n instanceof RemoteSessionItem);
  const sessions = new SessionCommands({
    sidecar,
    transcripts,
    local: Object.assign(local, { selected: selected(localView) }),
    remote: Object.assign(remote, { selected: selected(remoteView) }),
    sync: (action, selection, title) => controller.sync(action, selection, title),
  });
  const removal = new RemovalCommands({
    sidecar,
    local: { refresh: () => local.refresh(), selected: () => localView.selection[0] },
    remote: { refresh: () => remote.refresh(), selected: () => remoteView.selection[0] },
  });
  // The states of local sessions are against the last remote listing: a new one redraws them.
  let remoteSeen = '';
  remote.onDidLoad((listing) => {
    const seen = JSON.stringify(listing.entries.map((e) => [e.sessionId, e.contentSha256]));
    if (seen !== remoteSeen) local.refresh(); // redraw only when the remote changed: rows keep their handles
    remoteSeen = seen;
  });
  let watching: { dispose(): void } | undefined;
  const watchClaude = (claudeDir: string | undefined) => {
    if (!claudeDir || watching) return;
    // New and changed sessions appear by themselves; a session being written changes often: debounced.
    watching = api.watchFolder(claudeDir, 'projects/**/*.jsonl', () => local.refresh(), WATCH_DEBOUNCE_MS);
    context.subscriptions.push(watching);
  };

  sidecar.onNotification<ProgressEvent>(Notification.progress, (p) => controller.onProgress(p));
  sidecar.onNotification<ChangedEvent>(Notification.changed, ({ what }) => {
    if (what === 'local' || what === 'config') local.refresh();
    if (what === 'remote' || what === 'config') remote.refresh();
    if (what === 'config') void controller.configChanged().then(() => encryption.refresh());
    if (what === 'hooks') void controller.refreshStatus();
  });

  context.subscriptions.push(
    channel,
    sidecar,
    statusBar,
    failures,
    localView,
    remoteView,
    ...registerCommands(controller, sessions, { encryption, removal }),
    api.registerTextDocumentContentProvider(TRANSCRIPT_SCHEME, transcripts),
    api.registerFileDecorationProvider(new SyncDecorations()),
    // Each (re)started sidecar: config.json into the settings, the token handed over, then the views
    // reload, but not those whose listing is already on its way to it (at the first start, both
    // views' first listings wait for it): listing them again at once only slowed their first rows.
    // A change the start itself makes (a token, a setting) refreshes them through `changed`.
    sidecar.onDidStart(() => {
      const idle = [local, remote].filter((view) => !view.loading);
      void controller
        .start()
        .then(
          (status) => {
            watchClaude(status.claudeDir);
            if (status.remote) void encryption.refresh(); // asks the remote: not awaited
          },
          (e) => reportError(e, 'Claude Sync'),
        )
        .then(() => idle.forEach((view) => view.refresh()));
    }),
    api.onDidChangeConfiguration((e) => {
      if (affectsPython(e)) {
        traceInfo('the Python setting changed: restarting the sidecar');
        void controller.restartSidecar();
      } else {
        mirror.onDidChange(e);
      }
    }),
    context.secrets.onDidChange((e) => {
      if (e.key === TOKEN_SECRET) void controller.start();
    }),
    api.onDidChangeWindowState((state) => {
      if (state.focused && readSettings().autoRefreshOnFocus) local.refresh();
    }),
  );

  // Not awaited: activation stays quick, and the views wait for the sidecar themselves.
  const started = sidecar;
  let starting = false;
  const startSidecar = () => {
    if (starting) return;
    starting = true;
    void started.start().then(() => {
      if (started.running) return;
      statusBar.update(undefined, started.problem);
      void reportError(new SidecarUnavailable(started.problem ?? 'it did not start'));
    });
  };
  if (local.hasCachedListing) {
    // The last listing is drawn first: the sidecar's start (an interpreter importing for half a
    // second on the cores that draw the workbench) waits until the view has had it for a moment,
    // or as long after the activation when the view has not asked for its rows (it is closed).
    local.onDidShowCached(startSidecar);
    setTimeout(() => local.asked || startSidecar(), CACHED_DRAW_MS);
  } else {
    startSidecar();
  }
  startStep('activate() returns');
  return { sidecar, controller };
}

export function deactivate(): Promise<void> | undefined {
  return sidecar?.stop();
}
