// Wiring: logger, sidecar, views, status bar, commands. All logic lives in the Python sidecar.
import type { ExtensionContext } from 'vscode';
import { Controller, TOKEN_SECRET, registerCommands } from './commands';
import { SidecarUnavailable, reportError } from './errors';
import { setLogChannel, traceInfo } from './log';
import { Notification, type ChangedEvent, type ProgressEvent } from './protocol';
import { affectsPython, affectsSidecarConfig, readSettings } from './settings';
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
  const controller = new Controller({ sidecar, local, remote, statusBar, secrets: context.secrets });
  const localView = api.createTreeView('claudeSync.localSessions', { treeDataProvider: local, showCollapseAll: true });
  const remoteView = api.createTreeView('claudeSync.remoteBundles', { treeDataProvider: remote, showCollapseAll: true });
  local.attach(localView);
  remote.attach(remoteView);

  sidecar.onNotification<ProgressEvent>(Notification.progress, (p) => controller.onProgress(p));
  sidecar.onNotification<ChangedEvent>(Notification.changed, ({ what }) => {
    if (what === 'local' || what === 'config') local.refresh();
    if (what === 'remote' || what === 'config') remote.refresh();
    if (what === 'hooks' || what === 'config') void controller.refreshStatus();
  });
  const pushSettings = (): Promise<unknown> => controller.pushSettings().then(undefined, (e) => reportError(e, 'Claude Sync settings'));

  context.subscriptions.push(
    channel,
    sidecar,
    statusBar,
    localView,
    remoteView,
    ...registerCommands(controller),
    // Each (re)started sidecar gets the settings and the token, then the views reload.
    sidecar.onDidStart(() => void pushSettings().then(() => (local.refresh(), remote.refresh()))),
    api.onDidChangeConfiguration((e) => {
      if (affectsPython(e)) {
        traceInfo('the Python setting changed: restarting the sidecar');
        void controller.restartSidecar();
      } else if (affectsSidecarConfig(e)) {
        traceInfo('settings changed: handing them to the sidecar');
        void pushSettings();
      }
    }),
    context.secrets.onDidChange((e) => {
      if (e.key === TOKEN_SECRET) void pushSettings();
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
