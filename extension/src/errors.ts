// Errors become messages a user can act on. The sidecar sends domain errors as JSON-RPC errors
// with `data.code` (docs/sidecar-protocol.md); anything else is shown by its message.
import { ErrorCode } from './protocol';
import { traceError } from './log';
import { executeCommand, showErrorMessage, showWarningMessage } from './vscodeapi';

/** The sidecar could not be started (no Python, too old, the package missing). */
export class SidecarUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SidecarUnavailable';
  }
}

export type Action = 'Configure Device' | 'Set Git Repository URL' | 'Set Server URL' | 'Show Output' | 'Set Python Path';

export interface UserMessage {
  severity: 'warning' | 'error';
  text: string;
  actions: Action[];
}

const ACTION_COMMANDS: Record<Action, [string, ...unknown[]]> = {
  'Configure Device': ['claudeSync.configureDevice'],
  'Set Git Repository URL': ['claudeSync.setGitRepoUrl'],
  'Set Server URL': ['claudeSync.setServerUrl'],
  'Show Output': ['claudeSync.showOutput'],
  'Set Python Path': ['workbench.action.openSettings', 'claudeSyncSessions.pythonPath'],
};

/** The kind of a domain error when the sidecar sent no `data.code`. */
const KIND_BY_CODE: Record<number, string> = {
  [ErrorCode.config]: 'config_error',
  [ErrorCode.backend]: 'backend_error',
  [ErrorCode.bundle]: 'bundle_error',
  [ErrorCode.notFound]: 'not_found',
  [ErrorCode.busy]: 'busy',
  [ErrorCode.invalidParams]: 'invalid_params',
};

interface RpcError {
  code: number;
  message: string;
  data?: { code?: string };
}

function isRpcError(e: unknown): e is RpcError {
  return typeof e === 'object' && e !== null && typeof (e as RpcError).code === 'number' && typeof (e as RpcError).message === 'string';
}

/** What to tell the user about `e`; `doing` names the failed action ("Upload failed"). */
export function describeError(e: unknown, doing = 'Claude Sync'): UserMessage {
  if (e instanceof SidecarUnavailable) {
    return { severity: 'error', text: `Claude Sync could not start its Python sidecar: ${e.message}`, actions: ['Set Python Path', 'Show Output'] };
  }
  if (isRpcError(e)) {
    switch (e.data?.code ?? KIND_BY_CODE[e.code]) {
      case 'config_error': {
        const remote = /git|server|url|token|remote/i.test(e.message);
        return {
          severity: 'warning',
          text: `${doing}: ${e.message}`,
          actions: remote ? ['Set Git Repository URL', 'Set Server URL'] : ['Configure Device'],
        };
      }
      case 'backend_error':
        return { severity: 'error', text: `${doing}: the remote could not be reached or refused: ${e.message}`, actions: ['Show Output'] };
      case 'busy':
        return { severity: 'warning', text: `${doing}: another sync is running, try again in a moment (${e.message})`, actions: [] };
      case 'not_found':
        return { severity: 'warning', text: `${doing}: ${e.message}`, actions: [] };
      case 'invalid_params':
      case undefined:
        if (e.code > -32000 || e.code < -32099) {
          // A protocol-level error (invalid params, internal error): a bug, so point at the log.
          return { severity: 'error', text: `${doing}: the sidecar reported an error (${e.code}): ${e.message}`, actions: ['Show Output'] };
        }
    }
    // Any other domain error (a bad bundle, an unreadable settings.json, a disk problem) says what it is.
    return { severity: 'error', text: `${doing}: ${e.message}`, actions: ['Show Output'] };
  }
  const text = e instanceof Error ? e.message : String(e);
  return { severity: 'error', text: `${doing}: ${text}`, actions: ['Show Output'] };
}

/** Logs `e`, shows it, and runs the action the user picks. Never throws. */
export async function reportError(e: unknown, doing?: string): Promise<void> {
  try {
    const m = describeError(e, doing);
    traceError(m.text);
    const show = m.severity === 'warning' ? showWarningMessage : showErrorMessage;
    const picked = (await show(m.text, ...m.actions)) as Action | undefined;
    if (picked) {
      const [command, ...args] = ACTION_COMMANDS[picked];
      await executeCommand(command, ...args);
    }
  } catch (inner) {
    traceError('could not show an error message', inner);
  }
}
