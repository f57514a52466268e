// The sidecar's JSON-RPC protocol, as fixed in docs/sidecar-protocol.md. Types only: the
// extension renders these answers and decides nothing itself.

export const Method = {
  status: 'claudeSync/status',
  configure: 'claudeSync/configure',
  setToken: 'claudeSync/setToken',
  checkRemote: 'claudeSync/checkRemote',
  listLocal: 'claudeSync/listLocal',
  listRemote: 'claudeSync/listRemote',
  push: 'claudeSync/push',
  pull: 'claudeSync/pull',
  cancel: 'claudeSync/cancel',
  transcript: 'claudeSync/transcript',
  resumePlan: 'claudeSync/resumePlan',
  hooks: 'claudeSync/hooks',
  delete: 'claudeSync/delete',
  neverSync: 'claudeSync/neverSync',
  encryptionStatus: 'claudeSync/encryptionStatus',
  encryptionInit: 'claudeSync/encryptionInit',
  encryptionJoin: 'claudeSync/encryptionJoin',
  encryptionShowPhrase: 'claudeSync/encryptionShowPhrase',
  repositories: 'claudeSync/repositories',
  mapRepository: 'claudeSync/mapRepository',
  cloneRepository: 'claudeSync/cloneRepository',
} as const;

export const Notification = {
  progress: 'claudeSync/progress',
  changed: 'claudeSync/changed',
} as const;

export type Backend = 'git' | 'server';

/** config.json as the sidecar shows it: the one source of truth, shared with the CLI and the hooks. */
export interface ConfigView {
  deviceName: string;
  projectsRoot: string;
  backend: Backend;
  gitRepoUrl: string | null;
  gitBranch: string;
  serverUrl: string | null;
  caBundle: string | null;
  hookPullTimeout: number;
}

export type ConfigKey = keyof ConfigView;

export type ConfigParams = { [K in ConfigKey]?: ConfigView[K] } & { unset?: ('gitRepoUrl' | 'serverUrl' | 'caBundle')[] };

/** What the user can do about an error or a failed check: a button. */
export interface Remedy {
  id: 'configureDevice' | 'changeUrl' | 'setToken' | 'joinEncryption' | 'showDetails';
  title: string;
  backend?: Backend;
}

/** Which remote this device syncs with. */
export interface RemoteInfo {
  backend: Backend;
  url: string;
  branch: string;
  /** "Git (main) · git@host:me/sessions.git" */
  label: string;
  fetchedAt?: string | null;
}

export interface CheckParams {
  backend: Backend;
  gitRepoUrl?: string;
  gitBranch?: string;
  serverUrl?: string;
  token?: string;
  caBundle?: string;
}

export interface RemoteCheck {
  ok: boolean;
  severity: 'info' | 'warning' | 'error';
  backend: Backend;
  url: string;
  message: string;
  checks: { name: 'reachable' | 'authorised' | 'writable'; ok: boolean; message: string }[];
  remedies: Remedy[];
}

export interface HooksState {
  installed: boolean;
  settingsPath: string;
  /** Per hook event: "installed" | "outdated" | "missing". */
  events?: Record<string, string>;
  /** Why settings.json could not be read (it is then left alone). */
  error?: string | null;
  /** Sessions the hooks still have to upload, and why the last hook upload failed. */
  pending?: number;
  lastError?: string | null;
}

export interface Status {
  version: string;
  configured: boolean;
  config: ConfigView | null;
  configFile: string;
  /** Claude Code's folder on this device (~/.claude). */
  claudeDir: string;
  remote: RemoteInfo | null;
  /** Why config.json could not be read, when it exists but is broken. */
  configError?: string | null;
  /** The host name, offered as the device name. */
  defaultDeviceName?: string;
  hasToken: boolean;
  hooks: HooksState;
}

export type SyncStateName =
  | 'synced'
  | 'changedHere'
  | 'onlyHere'
  | 'newerThere'
  | 'onlyThere'
  | 'diverged'
  | 'notPortable'
  /** On the never-sync list: "not synced by choice". */
  | 'neverSync'
  /** A tombstone on the remote. */
  | 'deleted'
  | 'unknown';

/** A session's or project's sync state, and how to draw it: all decided by the sidecar. */
export interface SyncLook {
  state: SyncStateName;
  /** "in sync", "changed here", ...; for a project "2 to upload · 1 to download". */
  label: string;
  /** A codicon id. */
  icon: string;
  /** A theme colour id for the icon and the decoration, or null. */
  color: string | null;
  /** At most two characters for the decoration ("M", "↓"), or "". */
  badge: string;
  counts?: Record<string, number>;
}

export interface Session {
  sessionId: string;
  title: string;
  messageCount: number;
  /** false: estimated from the transcript's size (a cold listing reads only its head and tail). */
  messageCountExact?: boolean;
  firstTimestamp: string | null;
  lastTimestamp: string | null;
  size: number;
  cwd: string | null;
  projectKey: string | null;
  portable: boolean;
  reason: string;
  transcript: string;
  /** Files that travel with the session (transcript, sub-agents, tasks, file history). */
  files?: number;
  /** The one size shown for this session everywhere. */
  sizeText?: string;
  sync?: SyncLook;
  /** The never-sync entry (this session's id, its project's key or a pattern) that keeps it here. */
  neverSyncBy?: string | null;
}

export interface ProjectGroup {
  projectKey: string | null;
  /** What the project is called: a repository's short name, else its key. */
  projectName?: string | null;
  projectKind?: string | null;
  cwd: string | null;
  portable: boolean;
  /** The never-sync entry (the project's key or a pattern) that keeps the whole project here. */
  neverSyncBy?: string | null;
  /** Starts collapsed (many sessions). */
  collapsed?: boolean;
  sync?: SyncLook;
  sessions: Session[];
}

export interface RemoteGroup {
  projectKey: string;
  collapsed: boolean;
  sync: SyncLook;
  entries: RemoteEntry[];
}

export interface RemoteEntry {
  sessionId: string;
  projectKey: string;
  device: string;
  lastModified: string | null;
  title: string;
  messageCount: number;
  size: number;
  contentSha256: string;
  sha256: string | null;
  /** Why it is not synced here: "on the remote only", "not synced by choice", "deleted", or "". */
  status?: string;
  sizeText?: string;
  sync?: SyncLook;
  /** The repository's short name (plus the subfolder), else the key; absent from older sidecars. */
  projectName?: string;
  projectKind?: 'repository' | 'projects root' | 'home';
  repository?: string | null;
  /** Where a pull puts the session on this device; null: `placement` says why ("no local checkout"). */
  localFolder?: string | null;
  placement?: string;
}

/** A repository this device knows, and the folder its sessions go to. */
export interface Repository {
  identity: string;
  key: string;
  name: string;
  /** Where to clone it from when there is no checkout here (the user may give another spelling). */
  cloneUrl: string;
  folder: string | null;
  pinned: boolean;
  checkouts: string[];
}

/** Exactly one of the three. */
export type Selection = { sessionIds: string[] } | { project: string } | { all: true };

export type SyncAction = 'push' | 'pull';

export type OutcomeStatus = 'done' | 'skipped' | 'failed';

export interface Outcome {
  sessionId: string;
  status: OutcomeStatus;
  reason: string;
  projectKey: string | null;
  title: string;
  /** Sessions this one needs (the parent of a fork); they travel with it. */
  dependsOn?: string[];
}

export interface Summary {
  action: string;
  done: number;
  skipped: number;
  failed: number;
  /** Of the skipped: already the same on both sides, and not portable (not failures). */
  upToDate?: number;
  notPortable?: number;
  /** The one line to show, as the sidecar words it. */
  text?: string;
  outcomes: Outcome[];
}

export interface LocalListing {
  configured: boolean;
  groups: ProjectGroup[];
  /** What Upload Changed and Download New take (the sidecar's choice). */
  toUpload?: string[];
  toDownload?: string[];
  filtered?: boolean;
}

export interface RemoteListing {
  configured: boolean;
  remote: RemoteInfo | null;
  fetchedAt: string | null;
  entries: RemoteEntry[];
  groups?: RemoteGroup[];
  toDownload?: string[];
  filtered?: boolean;
}

export interface TranscriptPart {
  sessionId: string;
  side: 'local' | 'remote';
  markdown: string;
  part: number;
  more: boolean;
}

export interface ResumePlan {
  sessionId: string;
  /** false: only on the remote, download it first. */
  local: boolean;
  cwd: string | null;
  command: string | null;
  warnings: string[];
}

export interface ProgressEvent {
  operationId: string;
  done: number;
  total: number;
  sessionId: string;
  status: OutcomeStatus;
  reason: string;
  message: string;
}

export interface ChangedEvent {
  what: 'local' | 'remote' | 'config' | 'hooks';
}

/** Where a delete applies: this device (into the backups), the remote (a tombstone), or both. */
export type DeleteWhere = 'local' | 'remote' | 'everywhere';

export interface NeverSyncList {
  projects: string[];
  sessions: string[];
}

/** Where end-to-end encryption stands for the configured remote, with the words to show. */
export interface EncryptionStatus {
  remote: string;
  encrypted: boolean;
  joined: boolean;
  keyId: string | null;
  passphrase: boolean;
  sealed: number;
  plain: number;
  /** Where this device keeps keys ("the system keyring" or a file). */
  store: string;
  /** "end-to-end encrypted", "not encrypted", ...: beside the remote's name. */
  label: string;
  /** A sentence for a tooltip. */
  detail: string;
}

export interface EncryptionInitResult {
  keyId: string;
  sealed: number;
  /** Shown once to the user; never logged, never stored by the extension. */
  recoveryPhrase: string;
  /** Why the sessions the remote held in plain could not be sealed yet (encryption is on all the same). */
  sealError?: string | null;
}

/** The JSON-RPC error codes of the domain errors (`data.code` names them). */
export const ErrorCode = {
  config: -32001,
  backend: -32002,
  bundle: -32003,
  notFound: -32004,
  busy: -32005,
  other: -32010,
  invalidParams: -32602,
} as const;

/** What the commands need from the sidecar: stubbed in the unit tests. */
export interface SidecarApi {
  request<R>(method: string, params: object): Promise<R>;
}
