// The extension's settings, read in one place. The sidecar's config.json (shared with the CLI and the
// hooks) stays the source of truth: only the settings a user actually set are pushed to it.
import * as os from 'os';
import * as path from 'path';
import { ConfigurationTarget, type ConfigurationChangeEvent } from 'vscode';
import type { Backend, ConfigParams } from './protocol';
import { getConfiguration } from './vscodeapi';

export const SECTION = 'claudeSyncSessions';

export interface Settings {
  backend: Backend;
  gitRepoUrl: string;
  serverUrl: string;
  deviceName: string;
  projectsRoot: string;
  autoRefreshOnFocus: boolean;
  pythonPath: string;
}

/** The settings that become the sidecar's configuration (claudeSync/configure). */
const CONFIG_KEYS = ['deviceName', 'projectsRoot', 'backend', 'gitRepoUrl', 'serverUrl'] as const;

export function readSettings(): Settings {
  const c = getConfiguration(SECTION);
  return {
    backend: c.get<Backend>('backend', 'git'),
    gitRepoUrl: c.get<string>('gitRepoUrl', '').trim(),
    serverUrl: c.get<string>('serverUrl', '').trim(),
    deviceName: c.get<string>('deviceName', '').trim(),
    projectsRoot: c.get<string>('projectsRoot', '').trim(),
    autoRefreshOnFocus: c.get<boolean>('autoRefreshOnFocus', true),
    pythonPath: expandHome(c.get<string>('pythonPath', '').trim()),
  };
}

/**
 * The settings the user set (at any level), non-empty, as claudeSync/configure params.
 * Defaults are left out so they never overwrite what `claude-sync configure` saved.
 */
export function configureParams(): ConfigParams {
  const c = getConfiguration(SECTION);
  const params: Record<string, string> = {};
  for (const key of CONFIG_KEYS) {
    const i = c.inspect<string>(key);
    const value = i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
    if (typeof value === 'string' && value.trim() !== '') {
      params[key] = key === 'projectsRoot' ? expandHome(value.trim()) : value.trim();
    }
  }
  return params as ConfigParams;
}

export function affectsSidecarConfig(e: ConfigurationChangeEvent): boolean {
  return CONFIG_KEYS.some((k) => e.affectsConfiguration(`${SECTION}.${k}`));
}

export function affectsPython(e: ConfigurationChangeEvent): boolean {
  return e.affectsConfiguration(`${SECTION}.pythonPath`);
}

/** Saves a setting for the user (every workspace), where the commands put what they ask for. */
export async function updateSetting(key: keyof Settings, value: unknown): Promise<void> {
  await getConfiguration(SECTION).update(key, value, ConfigurationTarget.Global);
}

export function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/') || p.startsWith('~\\')) return path.join(os.homedir(), p.slice(2));
  return p;
}
