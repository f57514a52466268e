// The order of the first requests to a new sidecar: the local listing first. The views ask for both
// listings as soon as the sidecar answers, and the status asks where encryption stands; each request
// that asks the remote is a `git fetch` or an HTTP round trip, and lists this device's sessions too
// to compare them. Sent together, they share the sidecar (one interpreter) and the machine's cores
// with the workbench while it starts, and the local rows wait for all of them. Held until the first
// local listing has its answer, they start after it and find this device's sessions already read.
import { Method } from './protocol';

/** The requests that ask the remote, held while the first local listing is on its way. */
export const ASKS_REMOTE: ReadonlySet<string> = new Set([Method.listRemote, Method.encryptionStatus]);

export class LocalListingFirst {
  private firstLocal: Promise<void> | undefined;

  /** A new sidecar: its first local listing goes first again. */
  reset(): void {
    this.firstLocal = undefined;
  }

  /**
   * Sends the request; one that asks the remote waits until the first local listing is answered
   * (or has failed). Nothing else waits, and nothing waits when no local listing was asked for yet
   * (the Local Sessions view is closed).
   */
  async send<R>(method: string, params: object, send: (method: string, params: object) => Promise<R>): Promise<R> {
    if (method === Method.listLocal && !this.firstLocal) {
      const answer = send(method, params);
      this.firstLocal = answer.then(
        () => undefined,
        () => undefined,
      );
      return answer;
    }
    if (this.firstLocal && ASKS_REMOTE.has(method)) await this.firstLocal;
    return send(method, params);
  }
}
