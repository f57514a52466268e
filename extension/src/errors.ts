// Errors become messages a user can act on. The sidecar sends domain errors as JSON-RPC errors
// with `data.code` and `data.remedies` (docs/sidecar-protocol.md): each remedy is a button here.
import { ErrorCode, type Remedy } from './protocol';
import { traceError, traceInfo, traceWarn } from './log';
import { executeCommand, showErrorMessage, showInformationMessage, showWarningMessage } from './vscodeapi';

/** The sidecar could not be started (no Python, too old, the package missing). */
export class SidecarUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SidecarUnavailable';
  }
}

/** A button: its title and the command it runs. */
export interface Action {
  title: string;
  command: string;
  args: unknown[];
}

export interface UserMessage {
  severity: 'info' | 'warning' | 'error';
  text: string;
  actions: Action[];
}

const SHOW_DETAILS: Action = { title: 'Show Details', command: 'claudeSync.showOutput', args: [] };
const SET_PYTHON_PATH: Action = { title: 'Set Python Path', command: 'workbench.action.openSettings', args: ['claudeSyncSessions.pythonPath'] };

/** The command behind a remedy the sidecar named. */
export function remedyAction(r: Remedy): Action {
  switch (r.id) {
    case 'configureDevice':
      return { title: r.title, command: 'claudeSync.configureDevice', args: [] };
    case 'changeUrl':
      return { title: r.title, command: r.backend === 'server' ? 'claudeSync.setServerUrl' : 'claudeSync.setGitRepoUrl', args: [] };
    case 'setToken':
      return { title: r.title, command: 'claudeSync.setToken', args: [] };
    case 'joinEncryption':
      return { title: r.title, command: 'claudeSync.joinEncryption', args: [] };
    case 'showDetails':
    default:
      return { ...SHOW_DETAILS, title: r.title || SHOW_DETAILS.title };
  }
}

interface RpcError {
  code: number;
  message: string;
  data?: { code?: string; remedies?: Remedy[] };
}

function isRpcError(e: unknown): e is RpcError {
  return typeof e === 'object' && e !== null && typeof (e as RpcError).code === 'number' && typeof (e as RpcError).message === 'string';
}

/** What to tell the user about `e`; `doing` names the failed action ("Upload failed"). */
export function describeError(e: unknown, doing = 'Claude Sync'): UserMessage {
  if (e instanceof SidecarUnavailable) {
    return { severity: 'error', text: `Claude Sync could not start its Python sidecar: ${e.message}`, actions: [SET_PYTHON_PATH, SHOW_DETAILS] };
  }
  if (isRpcError(e)) {
    const domain = e.code <= -32000 && e.code >= -32099;
    const remedies = e.data?.remedies;
    const actions = remedies ? remedies.map(remedyAction) : [SHOW_DETAILS];
    if (!domain) {
      // A protocol-level error (invalid params, internal error): a bug, so point at the details.
      return { severity: 'error', text: `${doing}: the sidecar reported an error (${e.code}): ${e.message}`, actions: [SHOW_DETAILS] };
    }
    // Something to set up or to wait for is a warning; a remote or a disk that failed is an error.
    const warning = e.code === ErrorCode.config || e.code === ErrorCode.busy || e.code === ErrorCode.notFound;
    return { severity: warning ? 'warning' : 'error', text: `${doing}: ${e.message}`, actions };
  }
  const text = e instanceof Error ? e.message : String(e);
  return { severity: 'error', text: `${doing}: ${text}`, actions: [SHOW_DETAILS] };
}

/** Shows a message with its buttons (logged once, here) and runs the one the user picks. `extra`
 * buttons come first and are returned when picked instead of run. Never throws. */
export async function showMessage(m: UserMessage, ...extra: string[]): Promise<string | undefined> {
  try {
    (m.severity === 'error' ? traceError : m.severity === 'warning' ? traceWarn : traceInfo)(m.text);
    const show = m.severity === 'error' ? showErrorMessage : m.severity === 'warning' ? showWarningMessage : showInformationMessage;
    const picked = await show(m.text, ...extra, ...m.actions.map((a) => a.title));
    if (picked === undefined || extra.includes(picked)) return picked;
    const action = m.actions.find((a) => a.title === picked);
    if (action) await executeCommand(action.command, ...action.args);
    return picked;
  } catch (inner) {
    traceError('could not show a message', inner);
    return undefined;
  }
}

/** Logs `e` once, shows it with its remedies as buttons, and runs the one the user picks. Never throws. */
export async function reportError(e: unknown, doing?: string): Promise<void> {
  await showMessage(describeError(e, doing));
}
