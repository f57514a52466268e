// The extension's settings, read and written in one place. The sidecar's config.json (shared with
// the CLI and the hooks) is the source of truth; the `claudeSyncSessions.*` settings that mirror
// it (configMirror.ts) are machine-scoped, so VS Code's Settings Sync never carries one device's
// projects root to another.
import * as os from 'os';
import * as path from 'path';
import { ConfigurationTarget, type ConfigurationChangeEvent } from 'vscode';
import type { ConfigKey, ConfigView } from './protocol';
import { getConfiguration } from './vscodeapi';

export const SECTION = 'claudeSyncSessions';

/** Settings of the extension itself (not in config.json). */
export interface Settings {
  autoRefreshOnFocus: boolean;
  pythonPath: string;
}

/** The settings that show config.json, in the order the Settings editor lists them. */
export const CONFIG_KEYS: readonly ConfigKey[] = [
  'deviceName',
  'projectsRoot',
  'backend',
  'gitRepoUrl',
  'gitBranch',
  'serverUrl',
  'caBundle',
  'hookPullTimeout',
];

/** Keys that name the remote: changing one tests the remote before it is saved. */
export const REMOTE_KEYS: readonly ConfigKey[] = ['backend', 'gitRepoUrl', 'gitBranch', 'serverUrl', 'caBundle'];

/** Keys config.json may leave empty (the others are needed once the device is set up). */
export const OPTIONAL_KEYS = ['gitRepoUrl', 'serverUrl', 'caBundle'] as const;

export type SettingValue = string | number;

const DEFAULTS: Record<ConfigKey, SettingValue> = {
  deviceName: '',
  projectsRoot: '',
  backend: 'git',
  gitRepoUrl: '',
  gitBranch: 'main',
  serverUrl: '',
  caBundle: '',
  hookPullTimeout: 5,
};

export function readSettings(): Settings {
  const c = getConfiguration(SECTION);
  return {
    autoRefreshOnFocus: c.get<boolean>('autoRefreshOnFocus', true),
    pythonPath: expandHome(c.get<string>('pythonPath', '').trim()),
  };
}

/** What the Settings editor shows for a config.json key now. */
export function settingValue(key: ConfigKey): SettingValue {
  const v = getConfiguration(SECTION).get<SettingValue>(key, DEFAULTS[key]);
  return typeof v === 'string' ? v.trim() : v;
}

/** A config.json value as its setting holds it (null becomes ""). */
export function configValue(config: ConfigView | null, key: ConfigKey): SettingValue {
  const v = config?.[key];
  return v === null || v === undefined ? DEFAULTS[key] : v;
}

export function isDefault(key: ConfigKey, value: SettingValue): boolean {
  return value === DEFAULTS[key];
}

export async function writeSetting(key: ConfigKey, value: SettingValue): Promise<void> {
  // Machine-scoped settings are saved for this machine (in a remote window: on the remote).
  await getConfiguration(SECTION).update(key, value === DEFAULTS[key] ? undefined : value, ConfigurationTarget.Global);
}

export function changedConfigKeys(e: ConfigurationChangeEvent): ConfigKey[] {
  return CONFIG_KEYS.filter((k) => e.affectsConfiguration(`${SECTION}.${k}`));
}

export function affectsPython(e: ConfigurationChangeEvent): boolean {
  return e.affectsConfiguration(`${SECTION}.pythonPath`);
}

export function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/') || p.startsWith('~\\')) return path.join(os.homedir(), p.slice(2));
  return p;
}
