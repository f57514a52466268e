process.env.TZ = 'UTC';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { humanSize, outcomeLine, plural, shortTime, summaryLine } from '../../src/format';

test('sizes read in B, KB, MB and GB', () => {
  assert.equal(humanSize(0), '0 B');
  assert.equal(humanSize(1023), '1023 B');
  assert.equal(humanSize(2560), '2.5 KB');
  assert.equal(humanSize(5 * 1024 * 1024), '5.0 MB');
  assert.equal(humanSize(3 * 1024 ** 4), '3072.0 GB');
});

test('times read as local YYYY-MM-DD HH:MM, and a missing time as a dash', () => {
  assert.equal(shortTime('2026-11-01T10:42:59.000Z'), '2026-11-01 10:42');
  assert.equal(shortTime(null), '-');
  assert.equal(shortTime('not a date'), 'not a date');
});

test('counts are pluralised and summaries name the action', () => {
  assert.equal(plural(1, 'session'), '1 session');
  assert.equal(plural(2, 'session'), '2 sessions');
  assert.equal(summaryLine('pull', { action: 'pull', done: 2, skipped: 0, failed: 1, outcomes: [] }), 'Download: 2 done, 0 skipped, 1 failed.');
});

test('one session reads by its title and what happened to it', () => {
  const o = { sessionId: 'abcdef12-3456', status: 'done' as const, reason: 'new on the remote', projectKey: 'acme/api', title: 'Fix it' };
  assert.equal(outcomeLine('push', o), 'Uploaded "Fix it" (new on the remote).');
  assert.equal(outcomeLine('pull', { ...o, reason: '' }), 'Downloaded "Fix it".');
  assert.equal(outcomeLine('pull', { ...o, status: 'failed', reason: 'bundle is corrupt', title: '' }), 'Could not download "abcdef12": bundle is corrupt.');
});
