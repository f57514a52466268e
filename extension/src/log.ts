// One LogOutputChannel ("Claude Sync") for the extension, the language client and the sidecar's stderr.
import type { LogOutputChannel } from 'vscode';

let channel: LogOutputChannel | undefined;

export function setLogChannel(c: LogOutputChannel): void {
  channel = c;
}

export function logChannel(): LogOutputChannel | undefined {
  return channel;
}

export function traceInfo(message: string): void {
  channel?.info(message);
}

export function traceWarn(message: string): void {
  channel?.warn(message);
}

export function traceError(message: string, error?: unknown): void {
  channel?.error(error === undefined ? message : `${message}: ${errorText(error)}`);
}

export function showLog(): void {
  channel?.show(true);
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : JSON.stringify(e);
}
