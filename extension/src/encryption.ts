// End-to-end encryption from VS Code: turn it on for the configured remote (first device), join it
// (other devices), show the recovery phrase again, and say where it stands. The sidecar makes and
// checks the keys and keeps them where the CLI and the hooks read them; the phrase and the
// passphrase only pass through here: never logged, never stored in settings or SecretStorage.
import { ProgressLocation } from 'vscode';
import { reportError } from './errors';
import { traceInfo, traceWarn } from './log';
import { Method, type EncryptionInitResult, type EncryptionStatus, type SidecarApi } from './protocol';
import {
  showInformationMessage,
  showInputBox,
  showModalInfo,
  showModalWarning,
  showQuickPick,
  showWarningMessage,
  withProgress,
  writeClipboard,
} from './vscodeapi';

/** Where the encryption state is shown (the Remote Bundles view, the status bar's tooltip). */
export interface EncryptionShown {
  showEncryption(status: EncryptionStatus | undefined): void;
}

export interface EncryptionDeps {
  sidecar: SidecarApi;
  shown: EncryptionShown;
  /** The listings to reload once sessions are sealed or readable here. */
  refreshViews(): void;
}

export const TURN_ON = 'Turn On Encryption';
export const SHOW_PHRASE = 'Show Phrase';
export const COPY_PHRASE = 'Copy Phrase';
export const JOIN = 'Join';
export const SHOW_AGAIN = 'Show Recovery Phrase';

type Unlock = 'phrase' | 'passphrase';

/** The 24 words in four lines of six, easier to copy by hand. */
export function phraseLines(phrase: string): string {
  const words = phrase.trim().split(/\s+/);
  const lines: string[] = [];
  for (let i = 0; i < words.length; i += 6) lines.push(words.slice(i, i + 6).join(' '));
  return lines.join('\n');
}

export class EncryptionCommands {
  constructor(private readonly deps: EncryptionDeps) {}

  /** Asks the sidecar where encryption stands and shows it; a failure leaves the state unknown. */
  async refresh(): Promise<EncryptionStatus | undefined> {
    try {
      const status = await this.deps.sidecar.request<EncryptionStatus>(Method.encryptionStatus, {});
      this.deps.shown.showEncryption(status);
      return status;
    } catch (e) {
      // Not configured, no remote, unreachable: the views already say so with their remedies.
      traceWarn(`encryption status unknown: ${e instanceof Error ? e.message : String(e)}`);
      this.deps.shown.showEncryption(undefined);
      return undefined;
    }
  }

  private status(): Thenable<EncryptionStatus> {
    return withProgress({ location: ProgressLocation.Notification, title: 'Claude Sync: reading the remote…' }, () =>
      this.deps.sidecar.request<EncryptionStatus>(Method.encryptionStatus, {}),
    );
  }

  /** On the first device: a new key for the remote, its recovery phrase shown once. */
  async setUp(): Promise<EncryptionInitResult | undefined> {
    const status = await this.status();
    this.deps.shown.showEncryption(status);
    if (status.encrypted) {
      const next = status.joined ? SHOW_AGAIN : JOIN;
      const picked = await showInformationMessage(`Claude Sync: ${status.remote} is already ${status.label}. ${status.detail}`, next);
      if (picked === JOIN) await this.join();
      if (picked === SHOW_AGAIN) await this.showPhrase();
      return undefined;
    }
    const how = await showQuickPick<{ label: string; detail: string; unlock: Unlock }>(
      [
        {
          label: 'Recovery phrase',
          detail: 'Other devices join with 24 words shown to you once: write them down.',
          unlock: 'phrase',
        },
        {
          label: 'Recovery phrase and a passphrase',
          detail: 'Other devices can also join with a passphrase you choose (stretched with Argon2id).',
          unlock: 'passphrase',
        },
      ],
      { title: 'Claude Sync: Set Up End-to-End Encryption', placeHolder: 'How other devices will unlock the sessions', ignoreFocusOut: true },
    );
    if (!how) return undefined;
    let passphrase: string | undefined;
    if (how.unlock === 'passphrase') {
      passphrase = await this.askNewPassphrase();
      if (passphrase === undefined) return undefined;
    }
    const confirmed = await showModalWarning(
      `Encrypt the sessions on ${status.remote}?`,
      [
        `A new key is made on this device and kept in ${status.store}, never in settings.`,
        status.plain ? `The ${status.plain} session(s) already on the remote are sealed now.` : '',
        'Other devices must join before they can sync again.',
        'Next you see the recovery phrase: it is the only way back to these sessions without this device.',
      ]
        .filter(Boolean)
        .join('\n'),
      TURN_ON,
    );
    if (confirmed !== TURN_ON) return undefined;
    let made: EncryptionInitResult;
    try {
      made = await withProgress({ location: ProgressLocation.Notification, title: 'Claude Sync: turning on end-to-end encryption…' }, () =>
        this.deps.sidecar.request<EncryptionInitResult>(Method.encryptionInit, passphrase ? { passphrase } : {}),
      );
    } catch (e) {
      return this.initFailed(e);
    } finally {
      passphrase = undefined;
    }
    traceInfo(`end-to-end encryption is on (key ${made.keyId}, ${made.sealed} session(s) sealed)`);
    if (made.sealError) {
      traceWarn(`the sessions the remote holds in plain could not be sealed yet: ${made.sealError}`);
      void showWarningMessage(
        `Claude Sync: end-to-end encryption is on, but the sessions the remote holds in plain could not be sealed yet (${made.sealError}). The next upload seals them.`,
      );
    }
    this.deps.refreshViews();
    void this.refresh();
    await this.revealPhrase(made.recoveryPhrase, 'Claude Sync: end-to-end encryption is on. Write down your recovery phrase');
    return made;
  }

  /** The key may be on the remote even though the set-up failed later (sealing a session the
   * remote holds): then the phrase is shown all the same, or it would be lost. */
  private async initFailed(e: unknown): Promise<undefined> {
    const after = await this.refresh();
    if (!after?.encrypted || !after.joined) {
      await reportError(e, 'Could not turn on encryption');
      return undefined;
    }
    this.deps.refreshViews();
    void reportError(e, 'End-to-end encryption is on, but not every session on the remote could be sealed');
    try {
      const { recoveryPhrase } = await this.deps.sidecar.request<{ recoveryPhrase: string }>(Method.encryptionShowPhrase, { confirm: true });
      await this.revealPhrase(recoveryPhrase, 'Claude Sync: end-to-end encryption is on. Write down your recovery phrase');
    } catch (inner) {
      await reportError(inner, 'Could not show the recovery phrase');
    }
    return undefined;
  }

  private async askNewPassphrase(): Promise<string | undefined> {
    const first = await showInputBox({
      title: 'Claude Sync: Set Up End-to-End Encryption (passphrase)',
      prompt: 'A passphrase other devices can join with: several words are better than one (the sidecar checks it)',
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v ? undefined : 'Enter a passphrase'),
    });
    if (first === undefined) return undefined;
    const again = await showInputBox({
      title: 'Claude Sync: Set Up End-to-End Encryption (passphrase)',
      prompt: 'The same passphrase again',
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v === first ? undefined : 'Not the same passphrase'),
    });
    return again === first ? first : undefined;
  }

  /** On another device: the recovery phrase or the passphrase, checked by the sidecar against the remote. */
  async join(): Promise<string | undefined> {
    const secret = await showInputBox({
      title: 'Claude Sync: Join End-to-End Encryption',
      prompt: 'The recovery phrase (24 words) shown on the first device, or the passphrase set there',
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : 'Enter the recovery phrase or the passphrase'),
    });
    if (secret === undefined) return undefined;
    let keyId: string;
    try {
      ({ keyId } = await withProgress({ location: ProgressLocation.Notification, title: 'Claude Sync: checking against the remote…' }, () =>
        this.deps.sidecar.request<{ keyId: string }>(Method.encryptionJoin, { secret }),
      ));
    } catch (e) {
      // A wrong phrase: the sidecar stored nothing; its error offers "Try Again".
      await reportError(e, 'Could not join');
      return undefined;
    }
    void showInformationMessage(`Claude Sync: this device joined the end-to-end encryption (key ${keyId}); its sessions are readable here.`);
    this.deps.refreshViews();
    void this.refresh();
    return keyId;
  }

  /** The recovery phrase again, after the user confirms nobody else is looking. */
  async showPhrase(): Promise<boolean> {
    const confirmed = await showModalWarning(
      'Show the recovery phrase?',
      'Anyone who sees it can read every session on the remote. Make sure nobody else can see your screen.',
      SHOW_PHRASE,
    );
    if (confirmed !== SHOW_PHRASE) return false;
    let phrase: string;
    try {
      ({ recoveryPhrase: phrase } = await this.deps.sidecar.request<{ recoveryPhrase: string }>(Method.encryptionShowPhrase, { confirm: true }));
    } catch (e) {
      await reportError(e, 'Could not show the recovery phrase');
      return false;
    }
    await this.revealPhrase(phrase, 'Claude Sync: your recovery phrase');
    return true;
  }

  /** A modal the user closes; "Copy Phrase" puts it on the clipboard. */
  private async revealPhrase(phrase: string, message: string): Promise<void> {
    const detail = `${phraseLines(phrase)}\n\nOther devices join with these 24 words. Keep them somewhere safe, away from this device.`;
    if ((await showModalInfo(message, detail, COPY_PHRASE)) === COPY_PHRASE) {
      await writeClipboard(phrase);
      void showInformationMessage('Claude Sync: the recovery phrase is on the clipboard; clear it once you have stored it.');
    }
  }
}
