// How sizes, times and summaries read in the views and messages.
import * as os from 'os';
import type { Outcome, Summary, SyncAction } from './protocol';

export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let size = bytes / 1024;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${size.toFixed(1)} ${units[unit]}`;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** An ISO timestamp as local "YYYY-MM-DD HH:MM", or "-" when unknown. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "Upload: 3 done, 1 skipped, 1 failed." */
export function summaryLine(action: SyncAction, s: Summary): string {
  const verb = action === 'push' ? 'Upload' : 'Download';
  return `${verb}: ${s.done} done, ${s.skipped} skipped, ${s.failed} failed.`;
}

/** What happened to one session: "Uploaded "Fix the login test" (new on the remote)." */
export function outcomeLine(action: SyncAction, o: Outcome): string {
  const title = `"${o.title || o.sessionId.slice(0, 8)}"`;
  const reason = o.reason.replace(/\.$/, '');
  if (o.status === 'done') return `${action === 'push' ? 'Uploaded' : 'Downloaded'} ${title}${reason ? ` (${reason})` : ''}.`;
  if (o.status === 'skipped') return `Skipped ${title}${reason ? `: ${reason}` : ''}.`;
  return `Could not ${action === 'push' ? 'upload' : 'download'} ${title}${reason ? `: ${reason}` : ''}.`;
}

/** A path under the home folder as ~/..., as users read it. */
export function tildify(p: string, home = os.homedir()): string {
  return home && (p === home || p.startsWith(home + '/')) ? `~${p.slice(home.length)}` : p;
}
