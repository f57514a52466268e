// The status bar item "Claude Sync: Hooks ON/OFF"; a click toggles the auto-sync hooks.
import { StatusBarAlignment, type Disposable, type StatusBarItem } from 'vscode';
import { plural, tildify } from './format';
import type { EncryptionStatus, HooksState } from './protocol';
import { createStatusBarItem } from './vscodeapi';

export const TOGGLE_HOOKS_COMMAND = 'claudeSync.toggleHooks';

export class HooksStatusBar implements Disposable {
  private readonly item: StatusBarItem;
  /** The last state the sidecar reported; undefined while unknown. */
  state: HooksState | undefined;
  private problem: string | undefined;
  /** End-to-end encryption of the remote, added to the tooltip once known. */
  private encryption: EncryptionStatus | undefined;

  constructor() {
    this.item = createStatusBarItem('claudeSync.hooks', StatusBarAlignment.Right, 100);
    this.item.name = 'Claude Sync Hooks';
    this.item.command = TOGGLE_HOOKS_COMMAND;
    this.update(undefined);
    this.item.show();
  }

  get text(): string {
    return this.item.text;
  }

  get tooltip(): string {
    return typeof this.item.tooltip === 'string' ? this.item.tooltip : '';
  }

  showEncryption(status: EncryptionStatus | undefined): void {
    this.encryption = status;
    this.update(this.state, this.problem);
  }

  update(state: HooksState | undefined, problem?: string): void {
    this.state = state;
    this.problem = problem;
    this.describe(state, problem);
    if (this.encryption) this.item.tooltip = `${this.tooltip}\n\nEncryption: ${this.encryption.detail}`;
  }

  private describe(state: HooksState | undefined, problem?: string): void {
    if (!state) {
      this.item.text = 'Claude Sync: Hooks ?';
      this.item.tooltip = problem ? `Claude Sync: ${problem}` : 'Claude Sync: hooks status unknown (is the sidecar running?)';
    } else if (state.error) {
      this.item.text = 'Claude Sync: Hooks OFF';
      this.item.tooltip = `Claude Sync cannot read ${tildify(state.settingsPath)}: ${state.error}\nIt is left alone until it is valid again.`;
    } else if (state.installed) {
      this.item.text = 'Claude Sync: Hooks ON';
      const backlog = [
        state.pending ? `${plural(state.pending, 'session')} waiting to upload.` : '',
        state.lastError ? `Last hook error: ${state.lastError}` : '',
      ].filter(Boolean);
      this.item.tooltip = [
        `Auto-sync hooks are installed in ${tildify(state.settingsPath)}: sessions sync when Claude Code starts and ends.`,
        ...backlog,
        'Click to remove them.',
      ].join('\n');
    } else if (Object.values(state.events ?? {}).includes('outdated')) {
      this.item.text = 'Claude Sync: Hooks OFF';
      this.item.tooltip = `The auto-sync hooks in ${tildify(state.settingsPath)} are out of date.\nClick to install them again.`;
    } else {
      this.item.text = 'Claude Sync: Hooks OFF';
      this.item.tooltip = `Auto-sync hooks are not installed.\nClick to install them into ${tildify(state.settingsPath)}.`;
    }
  }

  busy(): void {
    this.item.text = '$(loading~spin) Claude Sync: Hooks …';
  }

  dispose(): void {
    this.item.dispose();
  }
}
