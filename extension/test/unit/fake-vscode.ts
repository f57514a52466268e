// A small stand-in for the `vscode` module, enough for the extension's modules to run under
// node:test. The unit-test build aliases `vscode` to this file; tests drive it through `fake`.

type Listener<T> = (e: T) => unknown;

export class Disposable {
  constructor(private readonly onDispose: () => void = () => undefined) {}
  dispose(): void {
    this.onDispose();
  }
}

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => (this.listeners = this.listeners.filter((l) => l !== listener)));
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}

export class RelativePattern {
  constructor(
    readonly base: unknown,
    readonly pattern: string,
  ) {}
}

export enum UIKind {
  Desktop = 1,
  Web = 2,
}

export class MarkdownString {
  value = '';
  appendMarkdown(text: string): this {
    this.value += text;
    return this;
  }
  appendText(text: string): this {
    this.value += text;
    return this;
  }
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string | MarkdownString;
  iconPath?: ThemeIcon;
  contextValue?: string;
  resourceUri?: Uri;
  command?: { command: string; title: string; arguments?: unknown[] };
  constructor(
    public label: string,
    public collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
    readonly query = '',
  ) {}
  static file(p: string): Uri {
    return new Uri('file', p);
  }
  static from(parts: { scheme: string; path: string; query?: string }): Uri {
    return new Uri(parts.scheme, parts.path, parts.query ?? '');
  }
  toString(): string {
    return `${this.scheme}:${this.fsPath}${this.query ? `?${this.query}` : ''}`;
  }
  get path(): string {
    return this.fsPath;
  }
}

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  readonly token = {
    isCancellationRequested: false,
    onCancellationRequested: this.emitter.event,
  };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
}

export interface ShownMessage {
  severity: 'info' | 'warning' | 'error';
  text: string;
  items: string[];
}

export interface ProgressRun {
  options: { title?: string; cancellable?: boolean; location: ProgressLocation };
  reports: { message?: string; increment?: number }[];
  cancel: () => void;
}

class FakeStatusBarItem {
  text = '';
  tooltip: string | undefined;
  name: string | undefined;
  command: string | undefined;
  visible = false;
  constructor(
    readonly id: string,
    readonly alignment: StatusBarAlignment,
    readonly priority: number,
  ) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.visible = false;
  }
}

class FakeLogChannel {
  lines: string[] = [];
  shown = 0;
  constructor(readonly name: string) {}
  info(m: string): void {
    this.lines.push(`info ${m}`);
  }
  warn(m: string): void {
    this.lines.push(`warn ${m}`);
  }
  error(m: string): void {
    this.lines.push(`error ${m}`);
  }
  debug(m: string): void {
    this.lines.push(`debug ${m}`);
  }
  trace(m: string): void {
    this.lines.push(`trace ${m}`);
  }
  append(m: string): void {
    this.lines.push(m);
  }
  appendLine(m: string): void {
    this.lines.push(m);
  }
  show(): void {
    this.shown++;
  }
  dispose(): void {}
}

interface SettingValues {
  globalValue?: unknown;
  workspaceValue?: unknown;
  defaultValue?: unknown;
}

/** What the tests read and script. `reset()` before each test. */
export const fake = {
  messages: [] as ShownMessage[],
  /** The button each next message "clicks" (undefined: dismissed). */
  messageAnswers: [] as (string | undefined)[],
  /** What each next input box returns (undefined: Escape). */
  inputAnswers: [] as (string | undefined)[],
  inputBoxes: [] as { title?: string; value?: string; password?: boolean; validate?: (v: string) => unknown }[],
  openDialogAnswer: undefined as string[] | undefined,
  /** The label each next quick pick picks (undefined: Escape), and what each one offered. */
  quickPickAnswers: [] as (string | undefined)[],
  quickPicks: [] as { labels: string[]; title?: string }[],
  progressRuns: [] as ProgressRun[],
  /** Called when a progress run starts, e.g. to cancel it. */
  onProgressStart: undefined as ((run: ProgressRun) => void) | undefined,
  statusBarItems: [] as FakeStatusBarItem[],
  channels: [] as FakeLogChannel[],
  settings: new Map<string, SettingValues>(),
  commands: new Map<string, (...args: any[]) => unknown>(),
  executed: [] as { command: string; args: unknown[] }[],
  terminals: [] as { name?: string; cwd?: string; sent: string[]; shown: boolean }[],
  opened: [] as string[],
  modalAnswers: [] as (string | undefined)[],
  configListeners: new EventEmitter<{ affectsConfiguration(s: string): boolean }>(),
  reset(): void {
    this.messages = [];
    this.messageAnswers = [];
    this.inputAnswers = [];
    this.inputBoxes = [];
    this.openDialogAnswer = undefined;
    this.quickPickAnswers = [];
    this.quickPicks = [];
    this.progressRuns = [];
    this.onProgressStart = undefined;
    this.statusBarItems = [];
    this.channels = [];
    this.settings = new Map();
    this.commands = new Map();
    this.executed = [];
    this.terminals = [];
    this.opened = [];
    this.modalAnswers = [];
  },
  setting(key: string, values: SettingValues): void {
    this.settings.set(key, values);
  },
};

function message(severity: ShownMessage['severity']) {
  return (text: string, ...rest: unknown[]): Promise<string | undefined> => {
    const modal = typeof rest[0] === 'object' && rest[0] !== null;
    const items = (modal ? rest.slice(1) : rest) as string[];
    if (modal) {
      fake.messages.push({ severity, text: `${text}\n${(rest[0] as { detail?: string }).detail ?? ''}`, items });
      return Promise.resolve(fake.modalAnswers.shift());
    }
    fake.messages.push({ severity, text, items });
    return Promise.resolve(fake.messageAnswers.shift());
  };
}

export const window = {
  showInformationMessage: message('info'),
  showWarningMessage: message('warning'),
  showErrorMessage: message('error'),
  showInputBox(options: { title?: string; value?: string; password?: boolean; validateInput?: (v: string) => unknown }) {
    fake.inputBoxes.push({ title: options.title, value: options.value, password: options.password, validate: options.validateInput });
    return Promise.resolve(fake.inputAnswers.shift());
  },
  showQuickPick<T extends { label: string }>(items: readonly T[], options?: { title?: string }) {
    fake.quickPicks.push({ labels: items.map((i) => i.label), title: options?.title });
    const label = fake.quickPickAnswers.shift();
    return Promise.resolve(items.find((i) => i.label === label));
  },
  showOpenDialog() {
    return Promise.resolve(fake.openDialogAnswer?.map((p) => Uri.file(p)));
  },
  async withProgress<R>(
    options: ProgressRun['options'],
    task: (progress: { report(v: { message?: string; increment?: number }): void }, token: CancellationTokenSource['token']) => Promise<R>,
  ): Promise<R> {
    const source = new CancellationTokenSource();
    const run: ProgressRun = { options, reports: [], cancel: () => source.cancel() };
    fake.progressRuns.push(run);
    fake.onProgressStart?.(run);
    return task({ report: (v) => run.reports.push(v) }, source.token);
  },
  createStatusBarItem(id: string, alignment: StatusBarAlignment, priority: number) {
    const item = new FakeStatusBarItem(id, alignment, priority);
    fake.statusBarItems.push(item);
    return item;
  },
  createOutputChannel(name: string) {
    const c = new FakeLogChannel(name);
    fake.channels.push(c);
    return c;
  },
  createTreeView(_id: string, _options: unknown) {
    return {
      message: undefined as string | undefined,
      description: undefined as string | undefined,
      badge: undefined as { value: number; tooltip: string } | undefined,
      selection: [] as unknown[],
      dispose() {},
    };
  },
  createTerminal(options: { name?: string; cwd?: string }) {
    const t = { name: options.name, cwd: options.cwd, sent: [] as string[], shown: false };
    fake.terminals.push(t);
    return { show: () => (t.shown = true), sendText: (text: string) => t.sent.push(text) };
  },
  async showTextDocument(doc: { uri: Uri }) {
    fake.opened.push(doc.uri.toString());
    return {};
  },
  onDidChangeWindowState(_listener: unknown) {
    return new Disposable();
  },
};

export const languages = {
  async setTextDocumentLanguage(doc: unknown) {
    return doc;
  },
};

export const workspace = {
  async openTextDocument(uri: Uri) {
    return { uri, languageId: 'markdown' };
  },
  getConfiguration(section: string) {
    const full = (key: string): string => `${section}.${key}`;
    return {
      get<T>(key: string, defaultValue?: T): T {
        const v = fake.settings.get(full(key));
        return (v?.workspaceValue ?? v?.globalValue ?? v?.defaultValue ?? defaultValue) as T;
      },
      inspect<T>(key: string) {
        return { key: full(key), ...(fake.settings.get(full(key)) ?? {}) } as { key: string; globalValue?: T; workspaceValue?: T; workspaceFolderValue?: T };
      },
      async update(key: string, value: unknown, target: ConfigurationTarget) {
        const v = fake.settings.get(full(key)) ?? {};
        if (target === ConfigurationTarget.Global) v.globalValue = value;
        else v.workspaceValue = value;
        fake.settings.set(full(key), v);
      },
    };
  },
  onDidChangeConfiguration(listener: Listener<{ affectsConfiguration(s: string): boolean }>) {
    return fake.configListeners.event(listener);
  },
};

export const env = {
  uiKind: UIKind.Web,
  remoteName: 'test' as string | undefined,
  clipboard: {
    text: '',
    async writeText(t: string) {
      env.clipboard.text = t;
    },
  },
};

export const commands = {
  registerCommand(command: string, callback: (...args: any[]) => unknown) {
    fake.commands.set(command, callback);
    return new Disposable(() => fake.commands.delete(command));
  },
  async executeCommand(command: string, ...args: unknown[]) {
    fake.executed.push({ command, args });
    return fake.commands.get(command)?.(...args);
  },
};
