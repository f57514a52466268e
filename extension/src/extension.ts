// Wiring: logger, sidecar, views, status bar, commands. All logic lives in the Python sidecar.
import type { ExtensionContext } from 'vscode';
import { Controller, TOKEN_SECRET, registerCommands } from './commands';
import { ConfigMirror } from './configMirror';
import { SidecarUnavailable, reportError } from './errors';
import { setLogChannel, traceInfo } from './log';
import { Notification, type ChangedEvent, type ProgressEvent } from './protocol';
import { FailureDocuments } from './reports';
import { affectsPython, readSettings } from './settings';
import { Sidecar } from './sidecar';
import { HooksStatusBar } from './statusBar';
import { LocalSessionsProvider, RemoteBundlesProvider } from './views';
import * as api from './vscodeapi';

let sidecar: Sidecar | undefined;

export async function activate(context: ExtensionContext): Promise<{ sidecar: Sidecar; controller: Controller }> {
  const channel = api.createOutputChannel('Claude Sync');
  setLogChannel(channel);
  traceInfo(`Claude Sync ${context.extension.packageJSON.version} activating`);

  sidecar = new Sidecar(context.extensionPath, channel, () => readSettings().pythonPath);
  const local = new LocalSessionsProvider(sidecar);
  const remote = new RemoteBundlesProvider(sidecar);
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

  sidecar.onNotification<ProgressEvent>(Notification.progress, (p) => controller.onProgress(p));
  sidecar.onNotification<ChangedEvent>(Notification.changed, ({ what }) => {
    if (what === 'local' || what === 'config') local.refresh();
    if (what === 'remote' || what === 'config') remote.refresh();
    if (what === 'config') void controller.configChanged();
    if (what === 'hooks') void controller.refreshStatus();
  });

  context.subscriptions.push(
    channel,
    sidecar,
    statusBar,
    failures,
    localView,
    remoteView,
    ...registerCommands(controller),
    // Each (re)started sidecar: config.json into the settings, the token handed over, then the views reload.
    sidecar.onDidStart(() =>
      void controller
        .start()
        .then(undefined, (e) => reportError(e, 'Claude Sync'))
        .then(() => (local.refresh(), remote.refresh())),
    ),
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
  void started.start().then(() => {
    if (started.running) return;
    statusBar.update(undefined, started.problem);
    void reportError(new SidecarUnavailable(started.problem ?? 'it did not start'));
  });
  return { sidecar, controller };
}

export function deactivate(): Promise<void> | undefined {
  return sidecar?.stop();
}
