// A scripted sidecar: answers each claudeSync/* request from a handler, and records the calls.
import type { ConfigView, HooksState, ProjectGroup, RemoteCheck, RemoteEntry, Session, SidecarApi, Status, Summary } from '../../src/protocol';

type Handler = (params: any) => unknown;

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: { code: string; remedies?: { id: string; title: string; backend?: string }[] },
  ) {
    super(message);
  }
}

export class FakeSidecar implements SidecarApi {
  readonly calls: { method: string; params: any }[] = [];
  private readonly handlers = new Map<string, Handler>();

  on(method: string, handler: Handler): this {
    this.handlers.set(method, handler);
    return this;
  }

  async request<R>(method: string, params: object): Promise<R> {
    this.calls.push({ method, params });
    const handler = this.handlers.get(method);
    if (!handler) throw new RpcError(-32601, `no handler for ${method}`);
    return (await handler(params)) as R;
  }

  callsTo(method: string): any[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.params);
  }
}

export function session(over: Partial<Session> = {}): Session {
  const id = over.sessionId ?? '11111111-2222-3333-4444-555555555555';
  return {
    sessionId: id,
    title: 'Fix the flaky login test',
    messageCount: 12,
    firstTimestamp: '2026-11-01T10:00:00.000Z',
    lastTimestamp: '2026-11-01T10:42:00.000Z',
    size: 2560,
    cwd: '/home/alpha/code/acme/api',
    projectKey: 'acme/api',
    portable: true,
    reason: '',
    transcript: `/home/alpha/.claude/projects/-home-alpha-code-acme-api/${id}.jsonl`,
    ...over,
  };
}

export function group(sessions: Session[], over: Partial<ProjectGroup> = {}): ProjectGroup {
  return { projectKey: sessions[0].projectKey, cwd: sessions[0].cwd, portable: sessions[0].portable, sessions, ...over };
}

export function remoteEntry(over: Partial<RemoteEntry> = {}): RemoteEntry {
  return {
    sessionId: '11111111-2222-3333-4444-555555555555',
    projectKey: 'acme/api',
    device: 'alpha',
    lastModified: '2026-11-01T10:42:00.000Z',
    title: 'Fix the flaky login test',
    messageCount: 12,
    size: 2560,
    contentSha256: 'c'.repeat(64),
    sha256: 's'.repeat(64),
    ...over,
  };
}

export function summary(action: string, outcomes: Summary['outcomes']): Summary {
  const count = (s: string) => outcomes.filter((o) => o.status === s).length;
  return { action, done: count('done'), skipped: count('skipped'), failed: count('failed'), outcomes };
}

export function config(over: Partial<ConfigView> = {}): ConfigView {
  return {
    deviceName: 'alpha',
    projectsRoot: '/home/alpha/code',
    backend: 'git',
    gitRepoUrl: '/srv/sessions.git',
    gitBranch: 'main',
    serverUrl: null,
    caBundle: null,
    hookPullTimeout: 5,
    ...over,
  };
}

/** A status as the sidecar words it: `remote` follows the config given. */
export function status(hooks: HooksState, over: Partial<Status> = {}): Status {
  const c = over.config === undefined ? config() : over.config;
  const url = c && (c.backend === 'git' ? c.gitRepoUrl : c.serverUrl);
  return {
    version: '0.1.0',
    configured: c !== null,
    config: c,
    configFile: '/home/alpha/.claude-sync-sessions/config.json',
    claudeDir: '/home/alpha/.claude',
    remote: c && url ? { backend: c.backend, url, branch: c.gitBranch, label: `${c.backend} · ${url}`, fetchedAt: null } : null,
    hasToken: false,
    hooks,
    ...over,
  };
}

export function check(ok: boolean, over: Partial<RemoteCheck> = {}): RemoteCheck {
  return {
    ok,
    severity: ok ? 'info' : 'error',
    backend: 'git',
    url: '/srv/sessions.git',
    message: ok ? 'the Git repository /srv/sessions.git is reachable, lets this device in and accepts its sessions.' : 'the Git repository /srv/sessions.git: cannot reach it: no such repository',
    checks: [],
    remedies: ok ? [] : [{ id: 'changeUrl', title: 'Change URL', backend: 'git' }, { id: 'showDetails', title: 'Show Details' }],
    ...over,
  };
}
