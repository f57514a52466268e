// The language client's message trace, with the secrets taken out.
//
// When the "Claude Sync" channel's log level is Trace (or `claudeSync.trace.server` asks for
// "verbose" / "compact"), vscode-languageclient writes every request's params and every response's
// result to its trace channel. Some of them carry secrets: the server token (setToken, checkRemote),
// the passphrase and the recovery phrase (encryptionInit / encryptionJoin / encryptionShowPhrase).
// The client is given this channel as its `traceOutputChannel`: everything it traces goes through
// `redactSecrets` first, whatever the trace setting, so no setting can put a secret in a log file.
import type { Event, LogLevel, LogOutputChannel, ViewColumn } from 'vscode';

/** Fields whose values are secrets wherever they appear in a message (params, results, error data). */
export const SECRET_FIELDS = ['secret', 'passphrase', 'recoveryPhrase', 'phrase', 'token', 'password'] as const;

export const REDACTED = '[redacted]';

const names = SECRET_FIELDS.join('|');
// `"token": "…"` as JSON.stringify writes it (the text and the compact trace, and the JSON trace format).
const plain = new RegExp(`("(?:${names})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi');
// `\"token\": \"…\"`: the same inside a JSON string (a message traced as a string within another).
const escaped = new RegExp(`(\\\\"(?:${names})\\\\"\\s*:\\s*)\\\\"(?:(?!\\\\")[^])*\\\\"`, 'gi');

/** The text with the value of every secret field replaced by "[redacted]". */
export function redactSecrets(text: string): string {
  return text.replace(plain, `$1"${REDACTED}"`).replace(escaped, `$1\\"${REDACTED}\\"`);
}

/** A LogOutputChannel that writes to `channel` with the secrets redacted; it follows the channel's log level. */
export function redactingChannel(channel: LogOutputChannel): LogOutputChannel {
  return {
    get name(): string {
      return channel.name;
    },
    get logLevel(): LogLevel {
      return channel.logLevel;
    },
    get onDidChangeLogLevel(): Event<LogLevel> {
      return channel.onDidChangeLogLevel;
    },
    trace: (message: string, ...args: unknown[]) => channel.trace(redactSecrets(message), ...args.map(redactArg)),
    debug: (message: string, ...args: unknown[]) => channel.debug(redactSecrets(message), ...args.map(redactArg)),
    info: (message: string, ...args: unknown[]) => channel.info(redactSecrets(message), ...args.map(redactArg)),
    warn: (message: string, ...args: unknown[]) => channel.warn(redactSecrets(message), ...args.map(redactArg)),
    error: (error: string | Error, ...args: unknown[]) =>
      channel.error(typeof error === 'string' ? redactSecrets(error) : redactSecrets(error.stack ?? error.message), ...args.map(redactArg)),
    append: (value: string) => channel.append(redactSecrets(value)),
    appendLine: (value: string) => channel.appendLine(redactSecrets(value)),
    replace: (value: string) => channel.replace(redactSecrets(value)),
    clear: () => channel.clear(),
    show: (columnOrPreserve?: ViewColumn | boolean, preserveFocus?: boolean) =>
      typeof columnOrPreserve === 'boolean' || columnOrPreserve === undefined ? channel.show(columnOrPreserve) : channel.show(columnOrPreserve, preserveFocus),
    hide: () => channel.hide(),
    // The channel belongs to the extension (its own log too): the client must not dispose it.
    dispose: () => undefined,
  };
}

/** An extra argument as the channel would print it, redacted (objects are printed as JSON). */
function redactArg(arg: unknown): unknown {
  if (typeof arg === 'string') return redactSecrets(arg);
  if (arg instanceof Error) return redactSecrets(arg.stack ?? arg.message);
  if (arg !== null && typeof arg === 'object') {
    try {
      return redactSecrets(JSON.stringify(arg));
    } catch {
      return '[unprintable]';
    }
  }
  return arg;
}
