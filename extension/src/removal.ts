// What leaves and what never syncs: Delete on a session row (this device, the remote, or both),
// and the never-sync list from the tree (a session, a project, and "sync again"). The sidecar does
// the deleting (local copies into the backups, a tombstone on the remote) and keeps the list in
// config.json, shared with the CLI and the hooks; these commands ask the user and carry it out.
import { ProgressLocation } from 'vscode';
import { reportError } from './errors';
import { traceError, traceInfo } from './log';
import { Method, type DeleteWhere, type NeverSyncList, type SidecarApi, type Summary } from './protocol';
import { LocalProjectItem, LocalSessionItem, RemoteSessionItem } from './views';
import { showInformationMessage, showModalWarning, showQuickPick, showWarningMessage, withProgress } from './vscodeapi';

export type DeletableNode = LocalSessionItem | RemoteSessionItem;

export interface RemovalDeps {
  sidecar: SidecarApi;
  local: { refresh(): void; selected(): unknown };
  remote: { refresh(): void; selected(): unknown };
}

export const DELETE = 'Delete';

const RESTORE_HINT = 'Copies moved into the backups can be restored with the command claude-sync restore.';

/** The choices of where to delete, as the picker shows them. */
export const WHERE: Record<DeleteWhere, { label: string; detail: string }> = {
  local: {
    label: 'This device only',
    detail: 'The copy here moves into the backups; the remote keeps its copy (it is not downloaded again by itself).',
  },
  remote: {
    label: 'The remote only',
    detail: 'A tombstone replaces it on the remote, so no device uploads it again; the copy here stays.',
  },
  everywhere: {
    label: 'Everywhere',
    detail: 'Here and on the remote; other devices move their copies into their backups when they next sync.',
  },
};

/** What a Delete confirmation says will happen. */
export function deleteDetail(where: DeleteWhere): string {
  const lines = {
    local: ['The copy on this device moves into the backups (~/.claude-sync-sessions/backups).', 'The remote keeps its copy: you can download it again on purpose.'],
    remote: ['A tombstone replaces it on the remote: other devices do not upload it again, and move their copies into their backups when they next sync.', 'The copy on this device stays.'],
    everywhere: ['The copy on this device moves into the backups (~/.claude-sync-sessions/backups).', 'A tombstone replaces it on the remote: other devices move their copies into their backups when they next sync.'],
  }[where];
  return [...lines, RESTORE_HINT].join('\n');
}

/** Where a session can be deleted from, as far as its row knows (the sidecar says the rest). */
export function deleteChoices(node: DeletableNode): DeleteWhere[] {
  if (node instanceof LocalSessionItem) {
    const state = node.session.sync?.state;
    // Only here for sure: nothing to delete on the remote.
    return state === 'onlyHere' || state === 'notPortable' ? ['local'] : ['local', 'remote', 'everywhere'];
  }
  const state = node.entry.sync?.state;
  return state === 'onlyThere' ? ['remote'] : ['local', 'remote', 'everywhere'];
}

function nameOf(node: DeletableNode): { sessionId: string; title: string } {
  const { sessionId, title } = node instanceof LocalSessionItem ? node.session : node.entry;
  return { sessionId, title: title || sessionId.slice(0, 8) };
}

export class RemovalCommands {
  constructor(private readonly deps: RemovalDeps) {}

  private pick<T>(node: unknown, ...kinds: (abstract new (...args: any[]) => T)[]): T | undefined {
    for (const candidate of [node, this.deps.local.selected(), this.deps.remote.selected()]) {
      if (kinds.some((k) => candidate instanceof k)) return candidate as T;
    }
    return undefined;
  }

  /** Asks where, confirms what happens, then deletes through the sidecar. */
  async delete(node?: DeletableNode): Promise<Summary | undefined> {
    const n = this.pick<DeletableNode>(node, LocalSessionItem, RemoteSessionItem);
    if (!n) return undefined;
    const { sessionId, title } = nameOf(n);
    const choices = deleteChoices(n);
    let where: DeleteWhere | undefined = choices[0];
    if (choices.length > 1) {
      const picked = await showQuickPick(
        choices.map((w) => ({ ...WHERE[w], where: w })),
        { title: `Claude Sync: Delete "${title}"`, placeHolder: 'Where to delete it', ignoreFocusOut: true },
      );
      where = picked?.where;
    }
    if (!where) return undefined;
    const place = { local: 'from this device', remote: 'from the remote', everywhere: 'everywhere' }[where];
    if ((await showModalWarning(`Delete "${title}" ${place}?`, deleteDetail(where), DELETE)) !== DELETE) return undefined;
    let summary: Summary;
    try {
      summary = await withProgress({ location: ProgressLocation.Notification, title: `Claude Sync: deleting "${title}"…` }, () =>
        this.deps.sidecar.request<Summary>(Method.delete, { sessionIds: [sessionId], where }),
      );
    } catch (e) {
      await reportError(e, 'Delete failed');
      return undefined;
    } finally {
      this.deps.local.refresh();
      this.deps.remote.refresh();
    }
    for (const o of summary.outcomes) {
      const line = `delete ${o.status}: ${o.title || '(untitled)'} (${o.sessionId})${o.reason ? `: ${o.reason}` : ''}`;
      if (o.status === 'failed') traceError(line);
      else traceInfo(line);
    }
    const text = `Claude Sync: ${summary.text ?? `${summary.done} deleted, ${summary.failed} failed.`}`;
    void (summary.failed ? showWarningMessage(text) : showInformationMessage(text));
    return summary;
  }

  /** Puts a session on the never-sync list: hooks and bulk operations leave it on this device. */
  async neverSyncSession(node?: LocalSessionItem): Promise<NeverSyncList | undefined> {
    const n = this.pick<LocalSessionItem>(node, LocalSessionItem);
    if (!n) return undefined;
    const { sessionId, title } = nameOf(n);
    return this.edit('add', { sessions: [sessionId] }, `"${title}" is not synced any more: hooks, Upload All and Upload Changed leave it on this device.`);
  }

  /** Puts a project (by its key) on the never-sync list. */
  async neverSyncProject(node?: LocalProjectItem): Promise<NeverSyncList | undefined> {
    const n = this.pick<LocalProjectItem>(node, LocalProjectItem);
    const key = n?.group.projectKey;
    if (!key) return undefined;
    return this.edit('add', { projects: [key] }, `the sessions of ${key} are not synced any more: hooks, Upload All and Upload Changed leave them on this device.`);
  }

  /** Takes off the never-sync list the entry that keeps this session or project here. */
  async syncAgain(node?: LocalSessionItem | LocalProjectItem): Promise<NeverSyncList | undefined> {
    const n = this.pick<LocalSessionItem | LocalProjectItem>(node, LocalSessionItem, LocalProjectItem);
    if (!n) return undefined;
    const entry = n instanceof LocalSessionItem ? n.session.neverSyncBy : n.group.neverSyncBy;
    if (!entry) return undefined;
    const sessionEntry = n instanceof LocalSessionItem && entry === n.session.sessionId.toLowerCase();
    const what = n instanceof LocalSessionItem ? `"${nameOf(n).title}"` : (n.group.projectKey ?? entry);
    const named = sessionEntry ? '' : ` (the never-sync entry "${entry}" is removed, for every project it names)`;
    return this.edit('remove', sessionEntry ? { sessions: [entry] } : { projects: [entry] }, `${what} syncs again${named}.`);
  }

  private async edit(action: 'add' | 'remove', change: { projects?: string[]; sessions?: string[] }, done: string): Promise<NeverSyncList | undefined> {
    try {
      const list = await this.deps.sidecar.request<NeverSyncList>(Method.neverSync, { action, ...change });
      traceInfo(`never-sync list: ${list.projects.length} project(s), ${list.sessions.length} session(s)`);
      void showInformationMessage(`Claude Sync: ${done}`);
      return list;
    } catch (e) {
      await reportError(e, 'Could not change the never-sync list');
      return undefined;
    } finally {
      this.deps.local.refresh();
      this.deps.remote.refresh();
    }
  }
}
