// The two views: Local Sessions (grouped by project) and Remote Bundles (grouped by project, with
// the device each came from). They render what the sidecar lists and keep nothing else.
import {
  EventEmitter,
  MarkdownString,
  ThemeIcon,
  TreeItem,
  TreeItemCollapsibleState,
  type Event,
  type TreeDataProvider,
  type TreeView,
} from 'vscode';
import { describeError, showMessage } from './errors';
import { humanSize, plural, shortTime } from './format';
import { Method, type LocalListing, type ProjectGroup, type RemoteEntry, type RemoteListing, type Session, type SidecarApi } from './protocol';
import { executeCommand } from './vscodeapi';

export class LocalProjectItem extends TreeItem {
  constructor(readonly group: ProjectGroup) {
    const name = group.projectKey ?? group.cwd ?? '(unknown directory)';
    super(name, TreeItemCollapsibleState.Expanded);
    this.id = `local-project:${name}`;
    this.description = plural(group.sessions.length, 'session') + (group.portable ? '' : ' · not portable');
    this.tooltip = group.portable
      ? `${group.projectKey}\n${group.cwd ?? ''}`
      : `${group.cwd ?? name}\nNot portable: ${group.sessions[0]?.reason || 'outside the projects root'}`;
    this.iconPath = new ThemeIcon(group.portable ? 'folder' : 'folder-library');
    // Only portable projects get the inline upload (see package.json menus).
    this.contextValue = group.portable ? 'localProject' : 'localProject.notPortable';
  }
}

export class LocalSessionItem extends TreeItem {
  constructor(readonly session: Session) {
    super(session.title || session.sessionId.slice(0, 8), TreeItemCollapsibleState.None);
    this.id = `local-session:${session.sessionId}`;
    this.description = `${shortTime(session.lastTimestamp)} · ${humanSize(session.size)}`;
    const md = new MarkdownString();
    md.appendMarkdown(`**${escape(session.title || '(untitled)')}**\n\n`);
    md.appendMarkdown(`Session: \`${session.sessionId}\`\n\n`);
    md.appendMarkdown(`Path: \`${session.transcript}\`\n\n`);
    if (session.cwd) md.appendMarkdown(`Working directory: \`${session.cwd}\`\n\n`);
    md.appendMarkdown(
      `${session.messageCountExact === false ? 'about ' : ''}${plural(session.messageCount, 'message')} · last activity ${shortTime(session.lastTimestamp)} · ${humanSize(session.size)}` +
        (session.files ? ` in ${plural(session.files, 'file')}` : ''),
    );
    if (!session.portable) md.appendMarkdown(`\n\nNot portable: ${escape(session.reason)}`);
    this.tooltip = md;
    this.iconPath = new ThemeIcon(session.portable ? 'comment-discussion' : 'circle-slash');
    this.contextValue = session.portable ? 'localSession' : 'localSession.notPortable';
  }
}

export class RemoteProjectItem extends TreeItem {
  /** The repository the project belongs to (its sessions go to this device's checkout of it), if any. */
  readonly repository: string | undefined;

  constructor(
    readonly projectKey: string,
    readonly entries: RemoteEntry[],
  ) {
    const first = entries[0];
    super(first?.projectName ?? projectKey, TreeItemCollapsibleState.Expanded);
    this.id = `remote-project:${projectKey}`;
    this.repository = first?.repository ?? undefined;
    const where = first?.localFolder ?? first?.placement;
    this.description = plural(entries.length, 'session') + (this.repository && where ? ` · ${where}` : '');
    this.tooltip = this.repository
      ? `${projectKey}\nrepository ${this.repository}\n${first?.localFolder ? `goes to ${first.localFolder}` : (first?.placement ?? '')}`
      : projectKey;
    this.iconPath = new ThemeIcon(this.repository ? 'repo' : 'folder');
    this.contextValue = this.repository ? 'remoteProject.repository' : 'remoteProject';
  }
}

export class RemoteSessionItem extends TreeItem {
  constructor(readonly entry: RemoteEntry) {
    super(entry.title || entry.sessionId.slice(0, 8), TreeItemCollapsibleState.None);
    this.id = `remote-session:${entry.sessionId}`;
    this.description = `${entry.device} · ${shortTime(entry.lastModified)} · ${humanSize(entry.size)}`;
    const md = new MarkdownString();
    md.appendMarkdown(`**${escape(entry.title || '(untitled)')}**\n\n`);
    md.appendMarkdown(`Session: \`${entry.sessionId}\`\n\n`);
    md.appendMarkdown(`Path: \`${entry.projectKey}\` (under the projects root)\n\n`);
    md.appendMarkdown(`From device: ${escape(entry.device)}\n\n`);
    md.appendMarkdown(
      `${plural(entry.messageCount, 'message')} · last activity ${shortTime(entry.lastModified)} · ${humanSize(entry.size)}`,
    );
    this.tooltip = md;
    this.iconPath = new ThemeIcon('cloud');
    this.contextValue = 'remoteSession';
  }
}

export type LocalNode = LocalProjectItem | LocalSessionItem;
export type RemoteNode = RemoteProjectItem | RemoteSessionItem;

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!<>|]/g, '\\$&');
}

export const REFRESH_DELAY_MS = 100;

/** Loads the roots from the sidecar on each refresh; a failure becomes the view's message. */
abstract class SidecarTree<T extends TreeItem> implements TreeDataProvider<T> {
  private readonly changed = new EventEmitter<T | undefined>();
  readonly onDidChangeTreeData: Event<T | undefined> = this.changed.event;
  private view: TreeView<T> | undefined;
  private pending: ReturnType<typeof setTimeout> | undefined;
  /** What the last load showed: the message (an error) and the number of sessions. */
  message: string | undefined;

  constructor(protected readonly sidecar: SidecarApi) {}

  attach(view: TreeView<T>): void {
    this.view = view;
  }

  /** Reloads soon; refreshes asked for together (a command and the sidecar's `changed`) load once. */
  refresh(): void {
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      this.changed.fire(undefined);
    }, REFRESH_DELAY_MS);
  }

  getTreeItem(element: T): TreeItem {
    return element;
  }

  async getChildren(element?: T): Promise<T[]> {
    if (element) return this.childrenOf(element);
    try {
      const roots = await this.load();
      this.show(undefined, roots);
      this.shownError = undefined;
      return roots;
    } catch (e) {
      const m = describeError(e, this.failure);
      // Shown (with its remedies) and logged once, not again at every refresh while it lasts.
      if (m.text !== this.shownError) {
        this.shownError = m.text;
        void showMessage(m);
      }
      this.show(m.text, []);
      return [];
    }
  }

  private shownError: string | undefined;

  protected abstract readonly failure: string;
  protected abstract load(): Promise<T[]>;
  protected abstract childrenOf(element: T): T[];
  protected abstract count(roots: T[]): number;

  /** A word after the view's name: what it shows. */
  protected describe(count: number): string | undefined {
    return count ? plural(count, 'session') : undefined;
  }

  private show(message: string | undefined, roots: T[]): void {
    this.message = message;
    if (!this.view) return;
    this.view.message = message;
    this.view.description = message ? undefined : this.describe(this.count(roots));
  }
}

function setContext(key: string, value: boolean): void {
  void executeCommand('setContext', key, value).then(undefined, () => undefined);
}

export class LocalSessionsProvider extends SidecarTree<LocalNode> {
  protected readonly failure = 'Could not list local sessions';

  protected async load(): Promise<LocalNode[]> {
    const { configured, groups } = await this.sidecar.request<LocalListing>(Method.listLocal, {});
    // Not set up yet: no rows, so the view shows its welcome with the Configure Device button.
    setContext('claudeSync.configured', configured);
    return groups.map((g) => new LocalProjectItem(g));
  }

  protected childrenOf(element: LocalNode): LocalNode[] {
    return element instanceof LocalProjectItem ? element.group.sessions.map((s) => new LocalSessionItem(s)) : [];
  }

  protected count(roots: LocalNode[]): number {
    return roots.reduce((n, r) => n + (r instanceof LocalProjectItem ? r.group.sessions.length : 0), 0);
  }
}

export class RemoteBundlesProvider extends SidecarTree<RemoteNode> {
  protected readonly failure = 'Could not list remote bundles';

  /** Which remote, and when it was last fetched: the view's description. */
  remoteLabel: string | undefined;

  protected async load(): Promise<RemoteNode[]> {
    const { configured, remote, fetchedAt, entries } = await this.sidecar.request<RemoteListing>(Method.listRemote, {});
    setContext('claudeSync.remoteConfigured', configured);
    this.remoteLabel = remote ? `${remote.label} · fetched ${shortTime(fetchedAt)}` : undefined;
    const byProject = new Map<string, RemoteEntry[]>();
    for (const e of entries) {
      const list = byProject.get(e.projectKey) ?? [];
      list.push(e);
      byProject.set(e.projectKey, list);
    }
    return [...byProject.keys()]
      .sort()
      .map((key) => new RemoteProjectItem(key, newestFirst(byProject.get(key)!)));
  }

  protected childrenOf(element: RemoteNode): RemoteNode[] {
    return element instanceof RemoteProjectItem ? element.entries.map((e) => new RemoteSessionItem(e)) : [];
  }

  protected count(roots: RemoteNode[]): number {
    return roots.reduce((n, r) => n + (r instanceof RemoteProjectItem ? r.entries.length : 0), 0);
  }

  protected describe(count: number): string | undefined {
    return [this.remoteLabel, count ? plural(count, 'session') : undefined].filter(Boolean).join(' · ') || undefined;
  }
}

function newestFirst(entries: RemoteEntry[]): RemoteEntry[] {
  return [...entries].sort((a, b) => (b.lastModified ?? '').localeCompare(a.lastModified ?? ''));
}
