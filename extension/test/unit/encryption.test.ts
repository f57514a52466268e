import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { COPY_PHRASE, EncryptionCommands, SHOW_PHRASE, TURN_ON, phraseLines } from '../../src/encryption';
import { describeError } from '../../src/errors';
import { setLogChannel } from '../../src/log';
import { Method, type EncryptionStatus } from '../../src/protocol';
import { HooksStatusBar } from '../../src/statusBar';
import { env, fake, window } from './fake-vscode';
import { FakeSidecar, RpcError } from './fake-sidecar';

const PHRASE = Array.from({ length: 24 }, (_, i) => `word${i + 1}`).join(' ');

function encStatus(over: Partial<EncryptionStatus> = {}): EncryptionStatus {
  return {
    remote: 'git:/srv/sessions.git',
    encrypted: false,
    joined: false,
    keyId: null,
    passphrase: false,
    sealed: 0,
    plain: 2,
    store: '/home/alpha/.claude-sync-sessions/credentials.json',
    label: 'not encrypted',
    detail: 'Sessions on this remote are not end-to-end encrypted: its host can read them.',
    ...over,
  };
}

function setup(sidecar: FakeSidecar) {
  const channel = window.createOutputChannel('Claude Sync');
  setLogChannel(channel as any);
  const shown: (EncryptionStatus | undefined)[] = [];
  let refreshed = 0;
  const enc = new EncryptionCommands({ sidecar, shown: { showEncryption: (s) => shown.push(s) }, refreshViews: () => refreshed++ });
  return { enc, channel, shown, refreshed: () => refreshed };
}

/** Everything the user could read afterwards in the Output channel. */
const logged = (channel: { lines: string[] }) => channel.lines.join('\n');

describe('end-to-end encryption', () => {
  beforeEach(() => {
    fake.reset();
    env.clipboard.text = '';
  });

  test('setting it up with a passphrase asks twice, confirms, and shows the phrase in a modal it never logs', async () => {
    const sidecar = new FakeSidecar()
      .on(Method.encryptionStatus, () => encStatus())
      .on(Method.encryptionInit, () => ({ keyId: 'abcd1234abcd1234', sealed: 2, recoveryPhrase: PHRASE }));
    const t = setup(sidecar);
    fake.quickPickAnswers.push('Recovery phrase and a passphrase');
    fake.inputAnswers.push('correct horse battery', 'correct horse battery');
    fake.modalAnswers.push(TURN_ON, COPY_PHRASE);

    const made = await t.enc.setUp();

    assert.equal(made?.keyId, 'abcd1234abcd1234');
    assert.deepEqual(sidecar.callsTo(Method.encryptionInit), [{ passphrase: 'correct horse battery' }]);
    assert.ok(fake.inputBoxes.every((b) => b.password === true), 'a passphrase box shows what is typed');
    assert.equal(fake.inputBoxes[1].validate?.('something else'), 'Not the same passphrase');
    const [confirm, reveal] = fake.messages.filter((m) => m.items.length);
    assert.match(confirm.text, /^Encrypt the sessions on git:\/srv\/sessions\.git\?/);
    assert.match(confirm.text, /The 2 session\(s\) already on the remote are sealed now/);
    assert.match(reveal.text, /Write down your recovery phrase/);
    assert.ok(reveal.text.includes('word1 word2 word3 word4 word5 word6\nword7'), reveal.text);
    assert.equal(env.clipboard.text, PHRASE);
    assert.ok(!logged(t.channel).includes('word7') && !logged(t.channel).includes('correct horse'), logged(t.channel));
    assert.ok(t.refreshed() >= 1);
  });

  test('a set-up that fails after the key reached the remote still shows the phrase, with the error', async () => {
    let turnedOn = false;
    const sidecar = new FakeSidecar()
      .on(Method.encryptionStatus, () => (turnedOn ? encStatus({ encrypted: true, joined: true, label: 'end-to-end encrypted' }) : encStatus()))
      .on(Method.encryptionInit, () => {
        turnedOn = true;
        throw new RpcError(-32003, 'session 93f2 in the Git repository does not match its checksum; nothing was written', { code: 'bundle_error', remedies: [] });
      })
      .on(Method.encryptionShowPhrase, () => ({ recoveryPhrase: PHRASE }));
    const t = setup(sidecar);
    fake.quickPickAnswers.push('Recovery phrase');
    fake.modalAnswers.push(TURN_ON, undefined);
    await t.enc.setUp();
    assert.match(fake.messages.find((m) => m.severity === 'error')!.text, /^End-to-end encryption is on, but not every session on the remote could be sealed: session 93f2/);
    assert.ok(fake.messages.some((m) => m.text.includes(phraseLines(PHRASE))), 'the phrase was not shown');

    fake.reset();
    turnedOn = false;
    sidecar.on(Method.encryptionInit, () => {
      throw new RpcError(-32002, 'the remote is unreachable', { code: 'backend_error', remedies: [] });
    });
    fake.quickPickAnswers.push('Recovery phrase');
    fake.modalAnswers.push(TURN_ON);
    await t.enc.setUp();
    assert.deepEqual(fake.messages.at(-1), { severity: 'error', text: 'Could not turn on encryption: the remote is unreachable', items: [] });
  });

  test('declining the confirmation turns nothing on', async () => {
    const sidecar = new FakeSidecar().on(Method.encryptionStatus, () => encStatus());
    const t = setup(sidecar);
    fake.quickPickAnswers.push('Recovery phrase');
    fake.modalAnswers.push(undefined);
    assert.equal(await t.enc.setUp(), undefined);
    assert.deepEqual(sidecar.callsTo(Method.encryptionInit), []);
    assert.deepEqual(fake.inputBoxes, [], 'no passphrase is asked for the phrase alone');
  });

  test('an already encrypted remote is not set up again: the user is offered to join', async () => {
    const sidecar = new FakeSidecar().on(Method.encryptionStatus, () =>
      encStatus({ encrypted: true, label: 'end-to-end encrypted, not joined', detail: 'join with the phrase' }),
    );
    const t = setup(sidecar);
    await t.enc.setUp();
    assert.deepEqual(fake.messages.map((m) => m.items), [['Join']]);
    assert.deepEqual(sidecar.callsTo(Method.encryptionInit), []);
  });

  test('joining sends the secret from a password box; a wrong one is an error offering Try Again, and nothing follows', async () => {
    const wrong = new RpcError(-32010, 'that recovery phrase is not the key of git:/srv/sessions.git; nothing was stored', {
      code: 'wrong_key',
      remedies: [{ id: 'joinEncryption', title: 'Try Again' }, { id: 'showDetails', title: 'Show Details' }],
    });
    let answer: unknown = wrong;
    const sidecar = new FakeSidecar().on(Method.encryptionJoin, () => {
      if (answer instanceof Error) throw answer;
      return answer;
    });
    const t = setup(sidecar);
    fake.inputAnswers.push('the wrong words');
    assert.equal(await t.enc.join(), undefined);
    assert.equal(fake.inputBoxes[0].password, true);
    assert.deepEqual(fake.messages, [
      { severity: 'error', text: 'Could not join: that recovery phrase is not the key of git:/srv/sessions.git; nothing was stored', items: ['Try Again', 'Show Details'] },
    ]);
    assert.equal(t.refreshed(), 0);
    assert.ok(!logged(t.channel).includes('the wrong words'));

    fake.reset();
    answer = { keyId: 'abcd1234abcd1234' };
    fake.inputAnswers.push(PHRASE);
    assert.equal(await t.enc.join(), 'abcd1234abcd1234');
    assert.deepEqual(sidecar.callsTo(Method.encryptionJoin).at(-1), { secret: PHRASE });
    assert.match(fake.messages[0].text, /joined the end-to-end encryption \(key abcd1234abcd1234\)/);
    assert.ok(t.refreshed() >= 1);
  });

  test('the phrase is shown again only after the user confirms, and the sidecar is told so', async () => {
    const sidecar = new FakeSidecar().on(Method.encryptionShowPhrase, () => ({ recoveryPhrase: PHRASE }));
    const t = setup(sidecar);
    fake.modalAnswers.push(undefined);
    assert.equal(await t.enc.showPhrase(), false);
    assert.deepEqual(sidecar.callsTo(Method.encryptionShowPhrase), []);

    fake.modalAnswers.push(SHOW_PHRASE, undefined);
    assert.equal(await t.enc.showPhrase(), true);
    assert.deepEqual(sidecar.callsTo(Method.encryptionShowPhrase), [{ confirm: true }]);
    assert.ok(fake.messages.at(-1)!.text.includes(phraseLines(PHRASE)));
    assert.equal(env.clipboard.text, '', 'copied without being asked');
    assert.ok(!logged(t.channel).includes('word1 '));
  });

  test('the state is shown where asked, and unknown when the sidecar cannot tell', async () => {
    let fail = false;
    const sidecar = new FakeSidecar().on(Method.encryptionStatus, () => {
      if (fail) throw new RpcError(-32002, 'unreachable', { code: 'backend_error' });
      return encStatus({ encrypted: true, joined: true, label: 'end-to-end encrypted', detail: 'key abcd' });
    });
    const t = setup(sidecar);
    await t.enc.refresh();
    fail = true;
    await t.enc.refresh();
    assert.deepEqual(t.shown.map((s) => s?.label), ['end-to-end encrypted', undefined]);
    assert.deepEqual(fake.messages, [], 'the views report an unreachable remote, not this');
  });

  test('the status bar tooltip names the encryption, and an encryption error offers to join', () => {
    const bar = new HooksStatusBar();
    bar.update({ installed: true, settingsPath: '/home/alpha/.claude/settings.json' });
    bar.showEncryption(encStatus({ encrypted: true, joined: true, detail: 'Sessions are end-to-end encrypted (key abcd).' }));
    assert.match(bar.tooltip, /Click to remove them\.\n\nEncryption: Sessions are end-to-end encrypted \(key abcd\)\.$/);
    bar.update({ installed: false, settingsPath: '/home/alpha/.claude/settings.json' });
    assert.match(bar.tooltip, /\n\nEncryption: Sessions are end-to-end encrypted/);

    const m = describeError(
      new RpcError(-32010, 'the remote is end-to-end encrypted and this device has not joined', {
        code: 'encryption_required',
        remedies: [{ id: 'joinEncryption', title: 'Join Encryption' }],
      }),
      'Could not list remote bundles',
    );
    assert.deepEqual(m.actions, [{ title: 'Join Encryption', command: 'claudeSync.joinEncryption', args: [] }]);
  });
});
