// config.json <-> the Settings editor. config.json (shared with the CLI and the hooks) is the one
// source of truth: its values are shown in the `claudeSyncSessions.*` settings, and what a user
// edits there is saved to it through the sidecar (a remote is tested first). At start, a setting
// that differs from config.json is never pushed over it silently, nor overwritten: the user picks.
import type { Memento } from 'vscode';
import { describeError, remedyAction, reportError, showMessage } from './errors';
import { traceInfo } from './log';
import { Method, type CheckParams, type ConfigKey, type ConfigParams, type ConfigView, type RemoteCheck, type SidecarApi, type Status } from './protocol';
import {
  CONFIG_KEYS,
  OPTIONAL_KEYS,
  REMOTE_KEYS,
  changedConfigKeys,
  configValue,
  expandHome,
  isDefault,
  settingValue,
  writeSetting,
  type SettingValue,
} from './settings';
import { ProgressLocation, type ConfigurationChangeEvent } from 'vscode';
import { withProgress } from './vscodeapi';

/** What the mirror wrote last, per key: a setting still holding it was not edited by the user. */
const MIRRORED = 'claudeSync.mirroredConfig';
export const USE_CONFIG = 'Use config.json';
export const USE_SETTINGS = 'Use VS Code Settings';
export const SAVE_ANYWAY = 'Save Anyway';
export const SETTINGS_DEBOUNCE_MS = 800;

export const LABELS: Record<ConfigKey, string> = {
  deviceName: 'Device Name',
  projectsRoot: 'Projects Root',
  backend: 'Backend',
  gitRepoUrl: 'Git Repo Url',
  gitBranch: 'Git Branch',
  serverUrl: 'Server Url',
  caBundle: 'Ca Bundle',
  hookPullTimeout: 'Hook Pull Timeout',
};

export class ConfigMirror {
  private config: ConfigView | null = null;
  /** Values this mirror is writing: their change events are not sent back. */
  private readonly writing = new Map<ConfigKey, SettingValue>();
  private readonly edited = new Set<ConfigKey>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly sidecar: SidecarApi,
    private readonly memento: Memento,
    private readonly onSaved: (status: Status) => void,
  ) {}

  /** Shows config.json in the settings. `first`: at start, when settings edited meanwhile are not overwritten. */
  async show(status: Status, first = false): Promise<ConfigKey[]> {
    this.config = status.config;
    if (!status.config) return [];
    const last = this.memento.get<Partial<Record<ConfigKey, SettingValue>>>(MIRRORED, {});
    const differing: ConfigKey[] = [];
    for (const key of CONFIG_KEYS) {
      const want = configValue(status.config, key);
      const have = settingValue(key);
      if (have === want) continue;
      if (first && !isDefault(key, have) && have !== last[key]) differing.push(key);
      else await this.write(key, want);
    }
    await this.remember();
    if (differing.length) void this.askWhichWins(differing);
    return differing;
  }

  /** A setting changed (the Settings editor, settings.json): saved to config.json after a pause. */
  onDidChange(e: ConfigurationChangeEvent): void {
    for (const key of changedConfigKeys(e)) {
      const value = settingValue(key);
      if (this.writing.has(key) && this.writing.get(key) === value) {
        this.writing.delete(key);
        continue;
      }
      if (value !== configValue(this.config, key)) this.edited.add(key);
    }
    if (!this.edited.size) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), SETTINGS_DEBOUNCE_MS);
  }

  /** Saves what was edited; waits for a save in progress. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.flushing = this.flushing.then(() => this.save()).catch((e) => reportError(e, 'Claude Sync settings'));
    return this.flushing;
  }

  private async save(): Promise<void> {
    const keys = [...this.edited];
    this.edited.clear();
    const params = this.paramsFor(keys);
    if (!Object.keys(params).length) return;
    if (!this.config) {
      // Not set up yet: the settings are taken as they are (Configure Device asks for the rest).
      traceInfo(`saving settings to config.json: ${keys.join(', ')}`);
    }
    const remote = this.config !== null && keys.some((k) => REMOTE_KEYS.includes(k));
    if (remote) {
      const check = await this.checkRemote(params);
      if (check && !check.ok) {
        const picked = await showMessage(
          { severity: check.severity === 'error' ? 'error' : 'warning', text: `Not saved to config.json: ${check.message}`, actions: check.remedies.map(remedyAction) },
          SAVE_ANYWAY,
        );
        if (picked !== SAVE_ANYWAY) {
          await this.revert(keys);
          return;
        }
      }
    }
    try {
      const status = await this.sidecar.request<Status>(Method.configure, params);
      await this.show(status);
      this.onSaved(status);
      const names = keys.map((k) => LABELS[k]).join(', ');
      await showMessage({ severity: 'info', text: `Claude Sync: ${names} saved to config.json.`, actions: [] });
    } catch (e) {
      await showMessage(describeError(e, 'Not saved to config.json'));
      await this.revert(keys);
    }
  }

  private paramsFor(keys: ConfigKey[]): ConfigParams {
    const params: Record<string, unknown> = {};
    const unset: string[] = [];
    for (const key of keys) {
      let value = settingValue(key);
      if (value === '' && (OPTIONAL_KEYS as readonly string[]).includes(key)) {
        if (configValue(this.config, key) !== '') unset.push(key);
        continue;
      }
      if (value === '') continue; // a required setting emptied: config.json keeps its value
      if (key === 'projectsRoot' || key === 'caBundle') value = expandHome(String(value));
      params[key] = value;
    }
    if (unset.length) params.unset = unset;
    return params as ConfigParams;
  }

  private async checkRemote(params: ConfigParams): Promise<RemoteCheck | undefined> {
    const merged = { ...this.config, ...params } as ConfigView;
    const check: CheckParams = {
      backend: merged.backend,
      gitRepoUrl: merged.gitRepoUrl ?? undefined,
      gitBranch: merged.gitBranch,
      serverUrl: merged.serverUrl ?? undefined,
      caBundle: merged.caBundle ?? undefined,
    };
    if (!(check.backend === 'git' ? check.gitRepoUrl : check.serverUrl)) return undefined; // nothing to test yet
    return withProgress({ location: ProgressLocation.Notification, title: 'Claude Sync: testing the remote…' }, () =>
      this.sidecar.request<RemoteCheck>(Method.checkRemote, check),
    );
  }

  private async revert(keys: ConfigKey[]): Promise<void> {
    for (const key of keys) await this.write(key, configValue(this.config, key));
  }

  private async askWhichWins(keys: ConfigKey[]): Promise<void> {
    const lines = keys.map((k) => `${LABELS[k]} is "${settingValue(k)}" here, "${configValue(this.config, k)}" in config.json`);
    const picked = await showMessage({
      severity: 'warning',
      text: `Claude Sync: your VS Code settings differ from config.json, which the CLI and the hooks also use: ${lines.join('; ')}.`,
      actions: [],
    }, USE_CONFIG, USE_SETTINGS);
    if (picked === USE_CONFIG) {
      await this.revert(keys);
      await this.remember();
    } else if (picked === USE_SETTINGS) {
      for (const k of keys) this.edited.add(k);
      await this.flush();
    }
  }

  private async write(key: ConfigKey, value: SettingValue): Promise<void> {
    if (settingValue(key) === value) return;
    this.writing.set(key, value);
    await writeSetting(key, value);
  }

  private async remember(): Promise<void> {
    const values: Partial<Record<ConfigKey, SettingValue>> = {};
    for (const key of CONFIG_KEYS) values[key] = configValue(this.config, key);
    await this.memento.update(MIRRORED, values);
  }
}
