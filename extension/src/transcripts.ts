// Open Transcript and Compare: a session's conversation as a read-only Markdown document, one part
// at a time (the sidecar reads the file line by line and cuts it into parts of a few hundred KB).
import { EventEmitter, Uri, type Event, type TextDocumentContentProvider } from 'vscode';
import { Method, type SidecarApi, type TranscriptPart } from './protocol';

export const TRANSCRIPT_SCHEME = 'claude-sync-transcript';

export interface TranscriptRef {
  sessionId: string;
  side: 'local' | 'remote';
  part: number;
  title: string;
}

export function transcriptUri(ref: TranscriptRef): Uri {
  const name = (ref.title || ref.sessionId.slice(0, 8)).replace(/[\\/:*?"<>|#%]/g, ' ').slice(0, 80).trim();
  const suffix = ref.side === 'remote' ? ' (remote)' : '';
  const part = ref.part ? ` part ${ref.part + 1}` : '';
  const query = new URLSearchParams({ id: ref.sessionId, side: ref.side, part: String(ref.part), title: ref.title }).toString();
  return Uri.from({ scheme: TRANSCRIPT_SCHEME, path: `/${name}${suffix}${part}.md`, query });
}

export function refOf(uri: Uri): TranscriptRef {
  const q = new URLSearchParams(uri.query);
  return { sessionId: q.get('id') ?? '', side: q.get('side') === 'remote' ? 'remote' : 'local', part: Number(q.get('part') ?? 0), title: q.get('title') ?? '' };
}

export class TranscriptDocuments implements TextDocumentContentProvider {
  private readonly changed = new EventEmitter<Uri>();
  readonly onDidChange: Event<Uri> = this.changed.event;
  /** Whether each shown part has a next one (for the Next Part button). */
  readonly more = new Map<string, boolean>();

  constructor(private readonly sidecar: SidecarApi) {}

  async provideTextDocumentContent(uri: Uri): Promise<string> {
    const ref = refOf(uri);
    const part = await this.sidecar.request<TranscriptPart>(Method.transcript, { sessionId: ref.sessionId, side: ref.side, part: ref.part });
    this.more.set(uri.toString(), part.more);
    return part.markdown;
  }
}
