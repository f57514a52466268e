// What can be done with one session: open its transcript, resume it in a terminal, copy its id,
// reveal its file, compare the local and the remote copy; and the view-wide Upload Changed,
// Download New and Filter. The sidecar says where, what and which; these only carry it out.
import { Uri, type TextEditor } from 'vscode';
import { tildify } from './format';
import { traceInfo } from './log';
import { Method, type LocalListing, type RemoteListing, type ResumePlan, type SidecarApi, type Summary, type SyncAction, type Selection } from './protocol';
import { TRANSCRIPT_SCHEME, refOf, transcriptUri, type TranscriptDocuments } from './transcripts';
import { LocalSessionItem, RemoteSessionItem } from './views';
import {
  createTerminal,
  executeCommand,
  isLocalDesktop,
  showDocument,
  showInformationMessage,
  showInputBox,
  showModalWarning,
  writeClipboard,
} from './vscodeapi';

export type SessionNode = LocalSessionItem | RemoteSessionItem;

export interface SessionDeps {
  sidecar: SidecarApi;
  transcripts: TranscriptDocuments;
  local: { query: string; last: LocalListing | undefined; refresh(): void; selected(): SessionNode | undefined };
  remote: { query: string; last: RemoteListing | undefined; refresh(): void; selected(): SessionNode | undefined };
  sync(action: SyncAction, selection: Selection, title: string): Promise<Summary | undefined>;
}

export const RESUME_ANYWAY = 'Resume Anyway';

function idOf(node: SessionNode): { sessionId: string; title: string } {
  return node instanceof LocalSessionItem
    ? { sessionId: node.session.sessionId, title: node.session.title }
    : { sessionId: node.entry.sessionId, title: node.entry.title };
}

export class SessionCommands {
  constructor(private readonly deps: SessionDeps) {}

  selectedLocal(): LocalSessionItem | undefined {
    const n = this.deps.local.selected();
    return n instanceof LocalSessionItem ? n : undefined;
  }

  selectedRemote(): RemoteSessionItem | undefined {
    const n = this.deps.remote.selected();
    return n instanceof RemoteSessionItem ? n : undefined;
  }

  /** The row a command applies to: the one clicked, else the one selected (a keyboard shortcut). */
  private pick(node: SessionNode | undefined): SessionNode | undefined {
    return node ?? this.deps.local.selected() ?? this.deps.remote.selected();
  }

  async openTranscript(node?: SessionNode): Promise<TextEditor | undefined> {
    const n = this.pick(node);
    if (!n) return undefined;
    const { sessionId, title } = idOf(n);
    const side = n instanceof RemoteSessionItem && n.entry.sync?.state === 'onlyThere' ? 'remote' : 'local';
    return showDocument(transcriptUri({ sessionId, side, part: 0, title }), 'markdown');
  }

  async nextPart(uri?: Uri): Promise<void> {
    if (!uri || uri.scheme !== TRANSCRIPT_SCHEME) return;
    const ref = refOf(uri);
    if (this.deps.transcripts.more.get(uri.toString()) === false) {
      void showInformationMessage('Claude Sync: this is the last part of the transcript.');
      return;
    }
    await showDocument(transcriptUri({ ...ref, part: ref.part + 1 }), 'markdown');
  }

  async compare(node?: SessionNode): Promise<void> {
    const n = this.pick(node);
    if (!n) return;
    const { sessionId, title } = idOf(n);
    const local = transcriptUri({ sessionId, side: 'local', part: 0, title });
    const remote = transcriptUri({ sessionId, side: 'remote', part: 0, title });
    await executeCommand('vscode.diff', local, remote, `${title || sessionId.slice(0, 8)} (this device ↔ remote)`);
  }

  async copySessionId(node?: SessionNode): Promise<void> {
    const n = this.pick(node);
    if (!n) return;
    const { sessionId } = idOf(n);
    await writeClipboard(sessionId);
    void showInformationMessage(`Claude Sync: copied the session id ${sessionId}.`);
  }

  async revealFile(node?: SessionNode): Promise<void> {
    const n = this.pick(node);
    if (!(n instanceof LocalSessionItem)) return;
    const file = n.session.transcript;
    if (isLocalDesktop()) {
      await executeCommand('revealFileInOS', Uri.file(file));
      return;
    }
    // In a browser or a remote window there is no file manager to open: say where it is.
    const picked = await showInformationMessage(`Claude Sync: the transcript is ${tildify(file)}`, 'Copy Path');
    if (picked === 'Copy Path') await writeClipboard(file);
  }

  /** `claude --resume <id>` in the session's project folder; a session only on the remote is downloaded first. */
  async resume(node?: SessionNode): Promise<void> {
    const n = this.pick(node);
    if (!n) return;
    const { sessionId, title } = idOf(n);
    let plan = await this.deps.sidecar.request<ResumePlan>(Method.resumePlan, { sessionId });
    if (!plan.local) {
      const summary = await this.deps.sync('pull', { sessionIds: [sessionId] }, `Downloading "${title || sessionId.slice(0, 8)}" to resume it`);
      if (!summary || summary.failed) return;
      plan = await this.deps.sidecar.request<ResumePlan>(Method.resumePlan, { sessionId });
    }
    if (!plan.local || !plan.cwd || !plan.command) return;
    if (plan.warnings.length) {
      const text = `Resume "${title || sessionId.slice(0, 8)}" in ${tildify(plan.cwd)}?`;
      const detail = plan.warnings.map((w) => `• ${w.charAt(0).toUpperCase()}${w.slice(1)}.`).join('\n');
      if ((await showModalWarning(text, detail, RESUME_ANYWAY)) !== RESUME_ANYWAY) return;
    }
    traceInfo(`resuming ${sessionId} in ${plan.cwd}`);
    const terminal = createTerminal({ name: `Claude: ${title || sessionId.slice(0, 8)}`, cwd: plan.cwd });
    terminal.show();
    terminal.sendText(plan.command);
  }

  async uploadChanged(): Promise<Summary | undefined> {
    const ids = this.deps.local.last?.toUpload ?? [];
    if (!ids.length) {
      void showInformationMessage('Claude Sync: nothing changed here since the last sync.');
      return undefined;
    }
    return this.deps.sync('push', { sessionIds: ids }, `Uploading ${ids.length} changed session${ids.length === 1 ? '' : 's'}`);
  }

  async downloadNew(): Promise<Summary | undefined> {
    const ids = this.deps.remote.last?.toDownload ?? this.deps.local.last?.toDownload ?? [];
    if (!ids.length) {
      void showInformationMessage('Claude Sync: nothing new on the remote.');
      return undefined;
    }
    return this.deps.sync('pull', { sessionIds: ids }, `Downloading ${ids.length} new session${ids.length === 1 ? '' : 's'}`);
  }

  async filter(): Promise<void> {
    const query = await showInputBox({
      title: 'Claude Sync: Filter Sessions',
      prompt: 'Words of the title or id, and any of project:NAME device:NAME state:STATE (e.g. state:changed, state:only)',
      value: this.deps.local.query,
      ignoreFocusOut: true,
    });
    if (query === undefined) return;
    this.setFilter(query.trim());
  }

  clearFilter(): void {
    this.setFilter('');
  }

  private setFilter(query: string): void {
    this.deps.local.query = query;
    this.deps.remote.query = query;
    void executeCommand('setContext', 'claudeSync.filtered', Boolean(query)).then(undefined, () => undefined);
    this.deps.local.refresh();
    this.deps.remote.refresh();
  }
}
