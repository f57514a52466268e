// The two views: Local Sessions and Remote Bundles, grouped by project. They draw what the sidecar
// lists (groups, order, sync states and their looks, sizes) and keep nothing else, except the last
// listing, shown at once on the next start while the sidecar warms up.
import {
  EventEmitter,
  MarkdownString,
  ThemeColor,
  ThemeIcon,
  TreeItem,
  TreeItemCollapsibleState,
  Uri,
  type Event,
  type TreeDataProvider,
  type TreeView,
} from 'vscode';
import { describeError, showMessage } from './errors';
import { humanSize, plural, shortTime } from './format';
import {
  Method,
  type EncryptionStatus,
  type LocalListing,
  type ProjectGroup,
  type RemoteEntry,
  type RemoteGroup,
  type RemoteListing,
  type Session,
  type SidecarApi,
  type SyncLook,
} from './protocol';
import { executeCommand } from './vscodeapi';
import { startStep } from './startTimeline';

/** The scheme of the resource a session row carries, so that decorations.ts can decorate it. */
export const STATE_SCHEME = 'claude-sync-state';
export const OPEN_TRANSCRIPT = 'claudeSync.openTranscript';

function stateIcon(sync: SyncLook | undefined, fallback: string): ThemeIcon {
  if (!sync) return new ThemeIcon(fallback);
  return new ThemeIcon(sync.icon, sync.color ? new ThemeColor(sync.color) : undefined);
}

/** A resource naming the row's state for the decoration provider (badge, colour, words). */
function stateUri(kind: string, id: string, sync: SyncLook | undefined): Uri | undefined {
  if (!sync) return undefined;
  const query = new URLSearchParams({ badge: sync.badge, color: sync.color ?? '', label: sync.label }).toString();
  return Uri.from({ scheme: STATE_SCHEME, path: `/${kind}/${id}`, query });
}

function sizeOf(row: { sizeText?: string; size: number }): string {
  return row.sizeText ?? humanSize(row.size);
}

function sessionTooltip(title: string, lines: string[], sync: SyncLook | undefined): MarkdownString {
  const md = new MarkdownString();
  md.appendMarkdown(`**${escape(title.trim() || '(untitled)')}**${sync ? ` — ${escape(sync.label)}` : ''}\n\n`);
  for (const line of lines) md.appendMarkdown(`${line}\n\n`);
  return md;
}

export class LocalProjectItem extends TreeItem {
  constructor(readonly group: ProjectGroup) {
    const name = group.projectKey ?? group.cwd ?? '(unknown directory)';
    // A repository reads as its short name (`acme-api`), like the Remote Bundles view; the key is in the tooltip.
    super(group.projectName ?? name, group.collapsed ? TreeItemCollapsibleState.Collapsed : TreeItemCollapsibleState.Expanded);
    this.id = `local-project:${name}`;
    const state = group.sync?.label;
    this.description = [plural(group.sessions.length, 'session'), group.portable ? state : 'not portable'].filter(Boolean).join(' · ');
    this.tooltip = group.portable
      ? `${group.projectKey}\n${group.cwd ?? ''}${state ? `\n${state}` : ''}`
      : `${group.cwd ?? name}\nNot portable: ${group.sessions[0]?.reason || 'outside the projects root'}`;
    this.iconPath = new ThemeIcon(group.portable ? 'folder' : 'folder-library', group.sync?.color ? new ThemeColor(group.sync.color) : undefined);
    this.resourceUri = stateUri('project', name, group.sync);
    // Only portable projects get the inline upload; a never-synced one gets "Sync Again" (package.json menus).
    this.contextValue = !group.portable ? 'localProject.notPortable' : group.neverSyncBy ? 'localProject.neverSync' : 'localProject';
  }
}

/** A session's row: its hover (a Markdown tooltip) is built only when VS Code asks for it. */
abstract class SessionRow extends TreeItem {
  abstract hover(): MarkdownString;
}

export class LocalSessionItem extends SessionRow {
  constructor(readonly session: Session) {
    super(session.title || session.sessionId.slice(0, 8), TreeItemCollapsibleState.None);
    this.id = `local-session:${session.sessionId}`;
    this.description = [session.sync?.label, shortTime(session.lastTimestamp), sizeOf(session)].filter(Boolean).join(' · ');
    this.iconPath = stateIcon(session.sync, session.portable ? 'comment-discussion' : 'circle-slash');
    this.resourceUri = stateUri('session', session.sessionId, session.sync);
    this.command = { command: OPEN_TRANSCRIPT, title: 'Open Transcript', arguments: [this] };
    this.contextValue = !session.portable ? 'localSession.notPortable' : session.neverSyncBy ? 'localSession.neverSync' : 'localSession';
  }

  hover(): MarkdownString {
    const s = this.session;
    const count = `${s.messageCountExact === false ? 'about ' : ''}${plural(s.messageCount, 'message')}`;
    return sessionTooltip(
      s.title,
      [
        `Session: ${code(s.sessionId)}`,
        `Path: ${code(s.transcript)}`,
        ...(s.cwd ? [`Working directory: ${code(s.cwd)}`] : []),
        `${count} · last activity ${shortTime(s.lastTimestamp)} · ${sizeOf(s)}` + (s.files ? ` in ${plural(s.files, 'file')}` : ''),
        ...(s.portable ? [] : [`Not portable: ${escape(s.reason)}`]),
        ...(s.neverSyncBy ? [`Not synced by choice: the never-sync list names it (${code(s.neverSyncBy)})`] : []),
      ],
      s.sync,
    );
  }
}

export class RemoteProjectItem extends TreeItem {
  /** The repository the project belongs to (its sessions go to this device's checkout of it), if any. */
  readonly repository: string | undefined;

  constructor(
    readonly projectKey: string,
    readonly entries: RemoteEntry[],
    group?: RemoteGroup,
  ) {
    const first = entries[0];
    super(first?.projectName ?? projectKey, group?.collapsed ? TreeItemCollapsibleState.Collapsed : TreeItemCollapsibleState.Expanded);
    this.id = `remote-project:${projectKey}`;
    this.repository = first?.repository ?? undefined;
    const where = this.repository ? (first?.localFolder ?? first?.placement) : undefined;
    this.description = [plural(entries.length, 'session'), where, group?.sync.label].filter(Boolean).join(' · ');
    this.tooltip = this.repository
      ? `${projectKey}\nrepository ${this.repository}\n${first?.localFolder ? `goes to ${first.localFolder}` : (first?.placement ?? '')}`
      : projectKey;
    this.iconPath = new ThemeIcon(this.repository ? 'repo' : 'folder', group?.sync.color ? new ThemeColor(group.sync.color) : undefined);
    this.resourceUri = stateUri('remote-project', projectKey, group?.sync);
    // A repository with no checkout here can also be cloned from its row.
    this.contextValue = !this.repository ? 'remoteProject' : first?.localFolder ? 'remoteProject.repository' : 'remoteProject.repository.unplaced';
  }
}

export class RemoteSessionItem extends SessionRow {
  constructor(readonly entry: RemoteEntry) {
    super(entry.title || entry.sessionId.slice(0, 8), TreeItemCollapsibleState.None);
    this.id = `remote-session:${entry.sessionId}`;
    this.description = [entry.sync?.label, entry.device, shortTime(entry.lastModified), sizeOf(entry)].filter(Boolean).join(' · ');
    this.iconPath = stateIcon(entry.sync, 'cloud');
    this.resourceUri = stateUri('remote-session', entry.sessionId, entry.sync);
    if (entry.sync?.state === 'deleted') {
      // A tombstone: nothing left to open, download or delete.
      this.contextValue = 'remoteTombstone';
      return;
    }
    this.command = { command: OPEN_TRANSCRIPT, title: 'Open Transcript', arguments: [this] };
    // A session this device also has can be compared; one only on the remote cannot.
    this.contextValue = entry.sync && entry.sync.state !== 'onlyThere' ? 'remoteSession.both' : 'remoteSession';
  }

  hover(): MarkdownString {
    const e = this.entry;
    return sessionTooltip(
      e.title,
      [
        `Session: ${code(e.sessionId)}`,
        `Path: ${code(e.projectKey)} (under the projects root)`,
        `From device: ${escape(e.device)}`,
        `${plural(e.messageCount, 'message')} · last activity ${shortTime(e.lastModified)} · ${sizeOf(e)}`,
      ],
      e.sync,
    );
  }
}

export type LocalNode = LocalProjectItem | LocalSessionItem;
export type RemoteNode = RemoteProjectItem | RemoteSessionItem;

// A hover is Markdown, and what goes into it comes from transcripts and remotes: a title, a working
// directory or a project key may hold Markdown (a link, an image fetched on hover). Prose is escaped
// (every ASCII punctuation character may be), paths go into code spans, and neither keeps line breaks
// (a blank line would end the paragraph, and a code span with it).
function escape(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[!-\/:-@[-`{-~]/g, '\\$&');
}

/** `text` as a Markdown code span, fenced by more backticks than any run of them it holds. */
export function code(text: string): string {
  const flat = text.replace(/[\r\n]+/g, ' ');
  if (!flat) return '';
  const fence = '`'.repeat(Math.max(0, ...Array.from(flat.matchAll(/`+/g), (m) => m[0].length)) + 1);
  // A space each side: one is stripped from each when the text starts or ends with a backtick or a space.
  const pad = /^[` ]|[` ]$/.test(flat) ? ' ' : '';
  return fence + pad + flat + pad + fence;
}

export const REFRESH_DELAY_MS = 100;
/** How long the last session's listing is shown before the sidecar is started and asked for its own. */
export const CACHED_DRAW_MS = 1000;

/** Where the last listing is kept between sessions of VS Code. */
export interface ListingCache {
  read<T>(key: string): T | undefined;
  write(key: string, value: unknown): void;
  /** Whether a listing is kept under this key (without reading it). */
  has(key: string): boolean;
}

/** Loads the roots from the sidecar on each refresh; a failure becomes the view's message. */
abstract class SidecarTree<T extends TreeItem, L> implements TreeDataProvider<T> {
  private readonly changed = new EventEmitter<T | undefined>();
  readonly onDidChangeTreeData: Event<T | undefined> = this.changed.event;
  private readonly loaded = new EventEmitter<L>();
  /** Fires after each listing from the sidecar. */
  readonly onDidLoad: Event<L> = this.loaded.event;
  private readonly shownCached = new EventEmitter<void>();
  /** Fires CACHED_DRAW_MS after the last session's listing was handed to the tree, before the sidecar's own is asked for. */
  readonly onDidShowCached: Event<void> = this.shownCached.event;
  protected view: TreeView<T> | undefined;
  private pending: ReturnType<typeof setTimeout> | undefined;
  private shownError: string | undefined;
  private rootsAsked = false;
  private loads = 0;
  /** The filter typed by the user (`project:acme state:changed words`), sent with each listing. */
  query = '';
  /** What the last load showed: the message (an error). */
  message: string | undefined;
  /** The last listing the sidecar gave. */
  last: L | undefined;

  constructor(
    protected readonly sidecar: SidecarApi,
    private readonly cache?: ListingCache,
  ) {}

  /** Whether the first rows will be the last session's listing (a cache to show, not shown yet). */
  get hasCachedListing(): boolean {
    return !this.rootsAsked && !!this.cache?.has(this.cacheKey);
  }

  /** Whether VS Code has asked for the view's rows (it has been open). */
  get asked(): boolean {
    return this.rootsAsked;
  }

  /** Whether a listing is on its way (or waits for the sidecar to start). */
  get loading(): boolean {
    return this.loads > 0;
  }

  attach(view: TreeView<T>): void {
    this.view = view;
  }

  /** Reloads soon; refreshes asked for together (a command, the watcher, the sidecar's `changed`) load once. */
  refresh(): void {
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      this.changed.fire(undefined);
    }, REFRESH_DELAY_MS);
  }

  getTreeItem(element: T): TreeItem {
    return element;
  }

  /**
   * A session row's hover, built when VS Code asks for it (on hover): a start with a thousand rows
   * sends none of them to the workbench and builds none.
   */
  resolveTreeItem(item: TreeItem, element: T): TreeItem {
    if (item.tooltip === undefined && element instanceof SessionRow) item.tooltip = element.hover();
    return item;
  }

  async getChildren(element?: T): Promise<T[]> {
    if (element) return this.childrenOf(element);
    startStep(`${this.cacheKey}: rows asked for`);
    if (!this.rootsAsked) {
      // The first time: the last listing at once, while the sidecar starts; the real one follows.
      this.rootsAsked = true;
      const cached = this.cache?.read<L>(this.cacheKey);
      if (cached && !this.query) {
        // The sidecar's listing follows once the workbench has had the time to draw these rows:
        // a sidecar starting meanwhile (an interpreter importing for half a second on the cores
        // that draw) held them back by 0.3-0.6 s on a 2-core machine. The workbench takes
        // 0.1-0.5 s to draw 20 collapsed projects, 0.9-1.2 s for 400 expanded ones (1,400 rows).
        setTimeout(() => {
          this.shownCached.fire();
          this.refresh();
        }, CACHED_DRAW_MS);
        const roots = this.render(cached, true);
        startStep(`${this.cacheKey}: the cached rows handed over`);
        return roots;
      }
    }
    try {
      this.loads++;
      const listing = await this.load().finally(() => this.loads--);
      this.last = listing;
      if (!this.query) this.cache?.write(this.cacheKey, listing);
      this.shownError = undefined;
      const roots = this.render(listing, false);
      startStep(`${this.cacheKey}: the sidecar's rows handed over`);
      this.loaded.fire(listing);
      return roots;
    } catch (e) {
      const m = describeError(e, this.failure);
      // Shown (with its remedies) and logged once, not again at every refresh while it lasts.
      if (m.text !== this.shownError) {
        this.shownError = m.text;
        void showMessage(m);
      }
      this.message = m.text;
      if (this.view) {
        this.view.message = m.text;
        this.view.description = undefined;
      }
      return [];
    }
  }

  /** Draws the view's description again from the last listing (something it shows changed). */
  protected redescribe(): void {
    if (this.last && this.view && !this.message) this.render(this.last, false);
  }

  private render(listing: L, cached: boolean): T[] {
    const roots = this.rootsOf(listing);
    this.message = undefined;
    if (this.view) {
      this.view.message = undefined;
      const parts = [this.describe(listing, roots), this.query ? `filter: ${this.query}` : undefined, cached ? 'refreshing…' : undefined];
      this.view.description = parts.filter(Boolean).join(' · ') || undefined;
      const toSync = this.toSync(listing);
      this.view.badge = toSync ? { value: toSync, tooltip: `${plural(toSync, 'session')} to sync` } : undefined;
    }
    return roots;
  }

  protected abstract readonly failure: string;
  protected abstract readonly cacheKey: string;
  protected abstract load(): Promise<L>;
  protected abstract rootsOf(listing: L): T[];
  protected abstract childrenOf(element: T): T[];
  protected abstract describe(listing: L, roots: T[]): string | undefined;
  protected abstract toSync(listing: L): number;
}

function setContext(key: string, value: boolean): void {
  void executeCommand('setContext', key, value).then(undefined, () => undefined);
}

export class LocalSessionsProvider extends SidecarTree<LocalNode, LocalListing> {
  protected readonly failure = 'Could not list local sessions';
  protected readonly cacheKey = 'localListing';

  protected async load(): Promise<LocalListing> {
    const listing = await this.sidecar.request<LocalListing>(Method.listLocal, this.query ? { query: this.query } : {});
    // Not set up yet: no rows, so the view shows its welcome with the Configure Device button.
    setContext('claudeSync.configured', listing.configured);
    return listing;
  }

  protected rootsOf(listing: LocalListing): LocalNode[] {
    return listing.groups.map((g) => new LocalProjectItem(g));
  }

  protected childrenOf(element: LocalNode): LocalNode[] {
    return element instanceof LocalProjectItem ? element.group.sessions.map((s) => new LocalSessionItem(s)) : [];
  }

  protected describe(listing: LocalListing): string | undefined {
    const n = listing.groups.reduce((sum, g) => sum + g.sessions.length, 0);
    return n ? plural(n, 'session') : undefined;
  }

  protected toSync(listing: LocalListing): number {
    return new Set([...(listing.toUpload ?? []), ...(listing.toDownload ?? [])]).size;
  }
}

export class RemoteBundlesProvider extends SidecarTree<RemoteNode, RemoteListing> {
  protected readonly failure = 'Could not list remote bundles';
  protected readonly cacheKey = 'remoteListing';
  /** End-to-end encryption of the remote, named beside it once known. */
  encryption: EncryptionStatus | undefined;

  showEncryption(status: EncryptionStatus | undefined): void {
    this.encryption = status;
    this.redescribe();
  }

  protected async load(): Promise<RemoteListing> {
    const listing = await this.sidecar.request<RemoteListing>(Method.listRemote, this.query ? { query: this.query } : {});
    setContext('claudeSync.remoteConfigured', listing.configured);
    return listing;
  }

  protected rootsOf(listing: RemoteListing): RemoteNode[] {
    if (listing.groups) return listing.groups.map((g) => new RemoteProjectItem(g.projectKey, g.entries, g));
    // An older sidecar: its flat list, by project.
    const byProject = new Map<string, RemoteEntry[]>();
    for (const e of listing.entries) byProject.set(e.projectKey, [...(byProject.get(e.projectKey) ?? []), e]);
    return [...byProject.keys()].sort().map((key) => new RemoteProjectItem(key, newestFirst(byProject.get(key)!)));
  }

  protected childrenOf(element: RemoteNode): RemoteNode[] {
    return element instanceof RemoteProjectItem ? element.entries.map((e) => new RemoteSessionItem(e)) : [];
  }

  /** Which remote, and when it was last fetched: the view's description. */
  protected describe(listing: RemoteListing, roots: RemoteNode[]): string | undefined {
    const n = roots.reduce((sum, r) => sum + (r instanceof RemoteProjectItem ? r.entries.length : 0), 0);
    const remote = listing.remote ? `${listing.remote.label} · fetched ${shortTime(listing.fetchedAt)}` : undefined;
    return [remote, this.encryption?.label, n ? plural(n, 'session') : undefined].filter(Boolean).join(' · ') || undefined;
  }

  protected toSync(listing: RemoteListing): number {
    return listing.toDownload?.length ?? 0;
  }
}

function newestFirst(entries: RemoteEntry[]): RemoteEntry[] {
  return [...entries].sort((a, b) => (b.lastModified ?? '').localeCompare(a.lastModified ?? ''));
}
