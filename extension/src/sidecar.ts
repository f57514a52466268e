// The Python sidecar's lifecycle: start, restart, stop (failures logged, never thrown at VS Code),
// and the one way the rest of the extension talks to it: `request`.
import { EventEmitter, type Disposable, type Event, type LogOutputChannel } from 'vscode';
// Only types at the top: the language client (most of the bundle) is loaded when the sidecar is
// started, after activate() has handed VS Code its views.
import type { CloseAction, Executable, LanguageClient } from 'vscode-languageclient/node';
import { SidecarUnavailable } from './errors';
import { traceError, traceInfo, traceWarn } from './log';
import type { SidecarApi } from './protocol';
import { checkImportable, findPython, sidecarLaunch, type KnownPython } from './python';
import { redactingChannel } from './redaction';
import { LocalListingFirst } from './requestOrder';
import { startStep } from './startTimeline';

type ClientLibrary = typeof import('vscode-languageclient/node');
let library: ClientLibrary | undefined;

/** vscode-languageclient, loaded (evaluated) on first use. */
async function clientLibrary(): Promise<ClientLibrary> {
  library ??= await import('vscode-languageclient/node');
  return library;
}

const RESTARTS_ALLOWED = 3;
const RESTART_WINDOW_MS = 3 * 60_000;

export class Sidecar implements SidecarApi, Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<void> | undefined;
  private lastError: string | undefined;
  private stopping = false;
  private crashes: number[] = [];
  /** Set while a new client waits for its sidecar's first answer: an exit then is a failed start. */
  private initializing = false;
  private readonly order = new LocalListingFirst();
  private readonly handlers = new Map<string, (params: any) => void>();
  private readonly didStart = new EventEmitter<void>();
  /** Fires each time a sidecar is up (first start, restart, or after a crash). */
  readonly onDidStart: Event<void> = this.didStart.event;

  constructor(
    private readonly extensionRoot: string,
    private readonly channel: LogOutputChannel,
    private readonly pythonSetting: () => string,
    private readonly knownPython?: KnownPython,
  ) {}

  /** Registers a handler for a sidecar notification; it survives restarts. */
  onNotification<P>(method: string, handler: (params: P) => void): void {
    this.handlers.set(method, handler);
    this.client?.onNotification(method, handler);
  }

  /** Why the last start failed, if it did. */
  get problem(): string | undefined {
    return this.lastError;
  }

  get running(): boolean {
    return this.client !== undefined && this.client.state === library?.State.Running;
  }

  /** Starts the sidecar unless it runs; on failure logs and remembers why, then resolves. */
  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.starting ??= this.create().finally(() => (this.starting = undefined));
    return this.starting;
  }

  async restart(): Promise<void> {
    await this.stop();
    this.crashes = [];
    await this.start();
  }

  async stop(): Promise<void> {
    await this.starting;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    this.stopping = true;
    try {
      if (client.state !== library?.State.Stopped) await client.stop(5000);
    } catch (e) {
      traceWarn(`the sidecar did not stop cleanly: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.stopping = false;
    }
  }

  async request<R>(method: string, params: object): Promise<R> {
    if (!this.running) await this.start();
    const client = this.client;
    if (!client || client.state !== library?.State.Running) {
      throw new SidecarUnavailable(this.lastError ?? 'it is not running');
    }
    return this.order.send(method, params, (m, p) => client.sendRequest<R>(m, p));
  }

  dispose(): void {
    void this.stop();
    this.didStart.dispose();
  }

  private async create(): Promise<void> {
    try {
      startStep('the sidecar: finding the interpreter');
      // The interpreter's version probe (when it runs) and the language client's loading overlap.
      const [python, { LanguageClient, ErrorAction, RevealOutputChannelOn, State }] = await Promise.all([
        findPython(this.pythonSetting(), this.extensionRoot, process.env, this.knownPython),
        clientLibrary(),
      ]);
      startStep('the sidecar: interpreter found, client loaded');
      const launch = sidecarLaunch(python, this.extensionRoot);
      traceInfo(`starting the sidecar: ${launch.command} ${launch.args.join(' ')} (Python ${python.version.join('.')})`);
      const server: Executable = { command: launch.command, args: launch.args, options: { cwd: launch.cwd, env: launch.env } };
      const client = new LanguageClient('claudeSync', 'Claude Sync', server, {
        documentSelector: [], // a sidecar: no documents are synced
        // Both through the redaction: a message trace (the channel at log level Trace, or
        // claudeSync.trace.server) holds request params and results, tokens and phrases among them.
        outputChannel: redactingChannel(this.channel),
        traceOutputChannel: redactingChannel(this.channel),
        revealOutputChannelOn: RevealOutputChannelOn.Never,
        errorHandler: {
          error: () => ({ action: ErrorAction.Continue }),
          closed: () => this.onClosed(),
        },
        initializationFailedHandler: (e) => {
          traceError('the sidecar failed to initialize', e);
          return false;
        },
      });
      for (const [method, handler] of this.handlers) client.onNotification(method, handler);
      client.onDidChangeState((e) => {
        if (e.newState === State.Running) this.didStart.fire();
      });
      this.client = client;
      this.order.reset();
      this.initializing = true;
      try {
        startStep('the sidecar: spawned');
        await client.start();
        startStep('the sidecar: initialized');
        // A sidecar that exits while it starts can leave start() resolved (the client forgets its
        // start when the connection closes first): its state says whether it runs.
        if (client.state !== State.Running) throw new Error('it exited before it answered');
      } catch (e) {
        // Whether the interpreter finds the sidecar is checked only now: the check is an
        // interpreter's start of its own (0.1-0.4 s while the workbench starts), which every
        // start paid before its sidecar was spawned, and only a failed start needs its words.
        throw (await checkImportable(launch).then(() => undefined, (missing: unknown) => missing)) ?? e;
      } finally {
        this.initializing = false;
      }
      this.lastError = undefined;
    } catch (e) {
      // The interpreter is asked again next time: a remembered version is no proof that it runs.
      this.knownPython?.forget();
      this.lastError = e instanceof Error ? e.message : String(e);
      traceError('the sidecar could not be started', e);
      const failed = this.client;
      this.client = undefined;
      if (failed && failed.state !== library?.State.Stopped) await failed.stop(2000).catch(() => undefined);
    }
  }

  private onClosed(): { action: CloseAction; handled: boolean } {
    const { CloseAction } = library!; // a client exists: the library is loaded
    // Stopped on purpose, or it never answered (create() says why): no restart.
    if (this.stopping || this.initializing) return { action: CloseAction.DoNotRestart, handled: true };
    const now = Date.now();
    this.crashes = [...this.crashes.filter((t) => now - t < RESTART_WINDOW_MS), now];
    if (this.crashes.length <= RESTARTS_ALLOWED) {
      traceWarn('the sidecar exited; restarting it');
      return { action: CloseAction.Restart, handled: true };
    }
    this.lastError = `it exited ${this.crashes.length} times in a few minutes (see the output channel); run "Claude Sync: Restart Sidecar" to try again`;
    traceError(`the sidecar ${this.lastError}`);
    return { action: CloseAction.DoNotRestart, handled: true };
  }
}
