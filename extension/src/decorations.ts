// Decorations of the session rows: the sidecar's badge and colour for each sync state, carried in
// the row's resource (views.ts), so this provider keeps no state of its own.
import { ThemeColor, type FileDecoration, type FileDecorationProvider, type Uri } from 'vscode';
import { STATE_SCHEME } from './views';

export class SyncDecorations implements FileDecorationProvider {
  provideFileDecoration(uri: Uri): FileDecoration | undefined {
    if (uri.scheme !== STATE_SCHEME) return undefined;
    const q = new URLSearchParams(uri.query);
    const badge = q.get('badge') ?? '';
    const color = q.get('color');
    if (!badge && !color) return undefined;
    return { badge: badge || undefined, color: color ? new ThemeColor(color) : undefined, tooltip: q.get('label') ?? undefined, propagate: false };
  }
}
