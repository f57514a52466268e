import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type { LogOutputChannel } from 'vscode';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, Trace, TraceFormat, type MessageConnection } from 'vscode-jsonrpc/node';
import { Method } from '../../src/protocol';
import { REDACTED, redactingChannel, redactSecrets } from '../../src/redaction';

// Secrets with the characters JSON escapes, so the redaction is tested where a value ends.
const PHRASE = 'abandon ability able about above absent absorb abstract absurd abuse access accident account accuse achieve acid acoustic acquire across act action actor actress actual';
const PASSPHRASE = 'a "quoted" pass\\phrase';
const TOKEN = 'csk_0123456789abcdefSECRET';
const SECRETS = [PHRASE, PASSPHRASE, JSON.stringify(PASSPHRASE).slice(1, -1), TOKEN, 'abandon ability able'];

/** A LogOutputChannel that keeps what is written to it, at log level Trace (the level that turns the trace on). */
function recordingChannel(): LogOutputChannel & { lines: string[] } {
  const lines: string[] = [];
  const write = (m: string | Error, ...args: unknown[]) => void lines.push([String(m), ...args.map(String)].join(' '));
  return {
    lines,
    name: 'Claude Sync',
    logLevel: 1, // LogLevel.Trace
    onDidChangeLogLevel: () => ({ dispose: () => undefined }),
    trace: write,
    debug: write,
    info: write,
    warn: write,
    error: write,
    append: (v: string) => void lines.push(v),
    appendLine: (v: string) => void lines.push(v),
    replace: (v: string) => void lines.push(v),
    clear: () => undefined,
    show: () => undefined,
    hide: () => undefined,
    dispose: () => undefined,
  } as unknown as LogOutputChannel & { lines: string[] };
}

/** A client and a stand-in sidecar over in-memory streams (vscode-jsonrpc, the library the language client traces with). */
function connect(): { client: MessageConnection; server: MessageConnection } {
  const up = new PassThrough();
  const down = new PassThrough();
  const client = createMessageConnection(new StreamMessageReader(down), new StreamMessageWriter(up));
  const server = createMessageConnection(new StreamMessageReader(up), new StreamMessageWriter(down));
  server.onRequest(Method.encryptionInit, () => ({ keyId: 'k1', sealed: 3, recoveryPhrase: PHRASE }));
  server.onRequest(Method.encryptionJoin, () => ({ keyId: 'k1' }));
  server.onRequest(Method.encryptionShowPhrase, () => ({ recoveryPhrase: PHRASE }));
  server.onRequest(Method.setToken, () => ({ hasToken: true, serverUrl: 'https://sync.example', storedIn: 'a file' }));
  server.onRequest(Method.checkRemote, () => ({ ok: true }));
  server.listen();
  client.listen();
  return { client, server };
}

/** The requests that carry a secret one way or the other, traced as the language client traces them. */
async function traceSecretRequests(channel: LogOutputChannel, trace: Trace, format: TraceFormat): Promise<void> {
  const { client, server } = connect();
  // What LanguageClient's tracer does: a message and its data on one entry, or the JSON object.
  const tracer = {
    log: (message: string | object, data?: string) =>
      typeof message === 'string' ? channel.trace(data !== undefined ? `${message}\n${data}` : message) : channel.trace(JSON.stringify(message)),
  };
  await client.trace(trace, tracer, { sendNotification: false, traceFormat: format });
  await client.sendRequest(Method.encryptionInit, { passphrase: PASSPHRASE });
  await client.sendRequest(Method.encryptionJoin, { secret: PHRASE });
  await client.sendRequest(Method.encryptionJoin, { secret: PASSPHRASE });
  await client.sendRequest(Method.encryptionShowPhrase, { confirm: true });
  await client.sendRequest(Method.setToken, { token: TOKEN, serverUrl: 'https://sync.example' });
  await client.sendRequest(Method.checkRemote, { backend: 'server', serverUrl: 'https://sync.example', token: TOKEN });
  client.dispose();
  server.dispose();
}

const leaked = (text: string) => SECRETS.filter((s) => text.includes(s));

describe('the language client trace never holds a secret', () => {
  for (const [label, trace, format] of [
    ['verbose text', Trace.Verbose, TraceFormat.Text],
    ['compact text', Trace.Compact, TraceFormat.Text],
    ['JSON', Trace.Verbose, TraceFormat.JSON],
  ] as const) {
    test(`a ${label} trace of the token, passphrase and recovery phrase requests shows the messages, not the secrets`, async () => {
      // Without the redaction the trace does hold them: the test feeds real secrets through.
      const raw = recordingChannel();
      await traceSecretRequests(raw, trace, format);
      assert.ok(leaked(raw.lines.join('\n')).length >= 3, `the unredacted trace should hold the secrets:\n${raw.lines.join('\n')}`);

      const channel = recordingChannel();
      await traceSecretRequests(redactingChannel(channel), trace, format);
      const text = channel.lines.join('\n');
      assert.deepEqual(leaked(text), [], text);
      // Still a useful trace: every request and its answer, the secrets marked as taken out.
      for (const m of [Method.encryptionInit, Method.encryptionJoin, Method.encryptionShowPhrase, Method.setToken, Method.checkRemote]) assert.ok(text.includes(m), `${m} is missing:\n${text}`);
      assert.ok(text.includes(REDACTED) && text.includes('https://sync.example') && text.includes('"keyId"'), text);
    });
  }

  test('secret fields are redacted inside a message traced as a string, and every write of the channel is redacted', () => {
    const inner = JSON.stringify({ params: { secret: PHRASE, token: TOKEN } });
    assert.deepEqual(leaked(redactSecrets(JSON.stringify({ message: inner }))), []);
    const channel = recordingChannel();
    const r = redactingChannel(channel);
    const line = `Params: {"recoveryPhrase": "${PHRASE}", "Token":"${TOKEN}"}`;
    r.info(line);
    r.warn(line);
    r.error(line);
    r.error(new Error(line));
    r.debug('x', { passphrase: PASSPHRASE });
    r.append(line);
    r.appendLine(line);
    r.replace(line);
    assert.equal(channel.lines.length, 8);
    assert.deepEqual(leaked(channel.lines.join('\n')), [], channel.lines.join('\n'));
    // Fields that only look alike keep their values; the log level is the channel's.
    assert.equal(redactSecrets('{"tokens": 3, "hasToken": true, "passphrase": true}'), '{"tokens": 3, "hasToken": true, "passphrase": true}');
    assert.equal(r.logLevel, channel.logLevel);
  });
});
