// "Show Failures": the failed sessions of the last upload or download, each with its reason, in a
// read-only document (the output channel holds every line of the batch; this holds only what failed).
import { EventEmitter, Uri, type Disposable, type Event, type TextDocumentContentProvider } from 'vscode';
import type { FailureReport } from './commands';
import type { Summary, SyncAction } from './protocol';
import { registerTextDocumentContentProvider, showDocument } from './vscodeapi';

export const REPORT_SCHEME = 'claude-sync-report';

export class FailureDocuments implements FailureReport, TextDocumentContentProvider, Disposable {
  private readonly changed = new EventEmitter<Uri>();
  readonly onDidChange: Event<Uri> = this.changed.event;
  private readonly reports = new Map<string, string>();
  private readonly registration: Disposable;

  constructor() {
    this.registration = registerTextDocumentContentProvider(REPORT_SCHEME, this);
  }

  provideTextDocumentContent(uri: Uri): string {
    return this.reports.get(uri.path) ?? '';
  }

  async show(action: SyncAction, summary: Summary): Promise<void> {
    const verb = action === 'push' ? 'Upload' : 'Download';
    const path = `/${verb} failures.md`;
    this.reports.set(path, failuresText(verb, summary));
    const uri = Uri.from({ scheme: REPORT_SCHEME, path });
    this.changed.fire(uri);
    await showDocument(uri, 'markdown');
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}

export function failuresText(verb: string, summary: Summary): string {
  const failed = summary.outcomes.filter((o) => o.status === 'failed');
  const lines = [`# ${verb}: ${failed.length} failed`, '', summary.text ?? '', ''];
  for (const o of failed) {
    lines.push(`## ${o.title || '(untitled)'}`, '', `- Session: ${o.sessionId}`);
    if (o.projectKey) lines.push(`- Project: ${o.projectKey}`);
    lines.push(`- Why: ${o.reason || '(no reason given)'}`, '');
  }
  return lines.join('\n');
}
