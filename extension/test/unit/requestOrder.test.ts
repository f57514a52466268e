import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { Method, type SidecarApi } from '../../src/protocol';
import { LocalListingFirst } from '../../src/requestOrder';
import { LocalSessionsProvider, RemoteBundlesProvider } from '../../src/views';
import { fake } from './fake-vscode';
import { FakeSidecar, RpcError, group, remoteEntry, session } from './fake-sidecar';

/** An answer the test gives when it wants to. */
function later<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Lets every promise callback that can run, run. */
const settle = () => new Promise((r) => setImmediate(r));

/** The fake sidecar behind the request order, as Sidecar.request puts it. */
function ordered(sidecar: FakeSidecar, order = new LocalListingFirst()): SidecarApi {
  return { request: (method, params) => order.send(method, params, (m, p) => sidecar.request(m, p)) };
}

const LISTING = { configured: true, groups: [group([session()])] };

describe('the first requests to a new sidecar', () => {
  beforeEach(() => fake.reset());

  test('the remote is asked only once the first local listing is answered', async () => {
    const local = later<unknown>();
    const sidecar = new FakeSidecar()
      .on(Method.listLocal, () => local.promise)
      .on(Method.listRemote, () => ({ configured: true, entries: [] }))
      .on(Method.encryptionStatus, () => ({ encrypted: false }))
      .on(Method.status, () => ({ configured: true }));
    const api = ordered(sidecar);

    const listing = api.request(Method.listLocal, {});
    const remote = api.request(Method.listRemote, {});
    const encryption = api.request(Method.encryptionStatus, {});
    const status = api.request(Method.status, {});
    await settle();
    // The status asks no remote: it is not held.
    assert.deepEqual(sidecar.calls.map((c) => c.method), [Method.listLocal, Method.status]);

    local.resolve(LISTING);
    await Promise.all([listing, remote, encryption, status]);
    assert.deepEqual(sidecar.calls.map((c) => c.method), [Method.listLocal, Method.status, Method.listRemote, Method.encryptionStatus]);
  });

  test('a failed first local listing lets the remote be asked too', async () => {
    const local = later<unknown>();
    const sidecar = new FakeSidecar().on(Method.listLocal, () => local.promise).on(Method.listRemote, () => ({ configured: true, entries: [] }));
    const api = ordered(sidecar);

    const listing = api.request(Method.listLocal, {});
    const remote = api.request(Method.listRemote, {});
    local.reject(new RpcError(-32001, 'the projects root is unreadable'));
    await assert.rejects(listing, /unreadable/);
    assert.deepEqual(await remote, { configured: true, entries: [] });
  });

  test('with no local listing asked for (Local Sessions closed), nothing waits', async () => {
    const sidecar = new FakeSidecar().on(Method.listRemote, () => ({ configured: true, entries: [] }));
    await ordered(sidecar).request(Method.listRemote, {});
    assert.deepEqual(sidecar.calls.map((c) => c.method), [Method.listRemote]);
  });

  test('only the first local listing goes first; a restarted sidecar orders its own again', async () => {
    const answers = [later<unknown>(), later<unknown>(), later<unknown>()];
    let n = 0;
    const sidecar = new FakeSidecar().on(Method.listLocal, () => answers[n++].promise).on(Method.listRemote, () => ({ entries: [] }));
    const order = new LocalListingFirst();
    const api = ordered(sidecar, order);

    answers[0].resolve(LISTING);
    await api.request(Method.listLocal, {});
    void api.request(Method.listLocal, {}); // a refresh, never answered here
    await api.request(Method.listRemote, {}); // not held by it

    order.reset();
    void api.request(Method.listLocal, {});
    const remote = api.request(Method.listRemote, {});
    await settle();
    assert.equal(sidecar.callsTo(Method.listRemote).length, 1);
    answers[2].resolve(LISTING);
    await remote;
    assert.equal(sidecar.callsTo(Method.listRemote).length, 2);
  });

  test('Local Sessions shows its rows while the remote has not answered, and when it is unreachable', async () => {
    const remoteAnswer = later<unknown>();
    const sidecar = new FakeSidecar()
      .on(Method.listLocal, () => LISTING)
      .on(Method.listRemote, () => remoteAnswer.promise);
    const api = ordered(sidecar);
    const local = new LocalSessionsProvider(api);
    const remote = new RemoteBundlesProvider(api);

    const remoteRows = remote.getChildren();
    const localRows = await local.getChildren();
    assert.deepEqual(localRows.map((r) => r.label), ['acme/api']);

    remoteAnswer.reject(new RpcError(-32002, 'cannot reach the remote', { code: 'remoteUnreachable' }));
    assert.deepEqual(await remoteRows, []);
    assert.match(remote.message ?? '', /cannot reach the remote/);
    assert.deepEqual(local.last, LISTING);
  });

  test('the remote view still fills after the local listing, in the order the views asked', async () => {
    const local = later<unknown>();
    const sidecar = new FakeSidecar()
      .on(Method.listLocal, () => local.promise)
      .on(Method.listRemote, () => ({ configured: true, entries: [remoteEntry()] }));
    const api = ordered(sidecar);
    const localView = new LocalSessionsProvider(api);
    const remoteView = new RemoteBundlesProvider(api);
    const localRows = localView.getChildren();
    const remoteRows = remoteView.getChildren();
    await settle();
    assert.deepEqual(sidecar.calls.map((c) => c.method), [Method.listLocal]);
    // Both listings are on their way: a sidecar starting now does not make them list again.
    assert.ok(localView.loading && remoteView.loading);
    local.resolve(LISTING);
    assert.equal((await localRows).length, 1);
    assert.deepEqual((await remoteRows).map((r) => r.label), ['acme/api']);
    assert.deepEqual(sidecar.calls.map((c) => c.method), [Method.listLocal, Method.listRemote]);
    assert.ok(!localView.loading && !remoteView.loading);
  });
});
