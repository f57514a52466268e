import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeEach, test } from 'node:test';
import { HooksStatusBar } from '../../src/statusBar';
import { tildify } from '../../src/format';
import { fake } from './fake-vscode';

const settings = path.join(os.homedir(), '.claude', 'settings.json');

beforeEach(() => fake.reset());

test('the item is shown on the right and toggles the hooks on click', () => {
  new HooksStatusBar();
  const [item] = fake.statusBarItems;
  assert.equal(item.visible, true);
  assert.equal(item.command, 'claudeSync.toggleHooks');
  assert.equal(item.text, 'Claude Sync: Hooks ?');
});

test('ON and OFF name settings.json under ~', () => {
  const bar = new HooksStatusBar();
  const [item] = fake.statusBarItems;
  bar.update({ installed: true, settingsPath: settings });
  assert.equal(item.text, 'Claude Sync: Hooks ON');
  assert.match(String(item.tooltip), /installed in ~\/.claude\/settings.json[^]*Click to remove them/);
  bar.update({ installed: false, settingsPath: settings, events: { SessionStart: 'missing', SessionEnd: 'missing' } });
  assert.equal(item.text, 'Claude Sync: Hooks OFF');
  assert.match(String(item.tooltip), /Click to install them into ~\/.claude\/settings.json/);
});

test('installed hooks with a backlog say how many sessions wait and the last error', () => {
  const bar = new HooksStatusBar();
  const [item] = fake.statusBarItems;
  bar.update({ installed: true, settingsPath: settings, pending: 2, lastError: 'server unreachable' });
  assert.match(String(item.tooltip), /2 sessions waiting to upload\.\nLast hook error: server unreachable\nClick to remove them\./);
});

test('outdated hooks and an unreadable settings.json read as OFF and say why', () => {
  const bar = new HooksStatusBar();
  const [item] = fake.statusBarItems;
  bar.update({ installed: false, settingsPath: settings, events: { SessionStart: 'outdated', SessionEnd: 'installed' } });
  assert.equal(item.text, 'Claude Sync: Hooks OFF');
  assert.match(String(item.tooltip), /out of date/);
  bar.update({ installed: false, settingsPath: settings, events: {}, error: 'line 3: expected a comma' });
  assert.match(String(item.tooltip), /cannot read ~\/.claude\/settings.json: line 3: expected a comma/);
});

test('tildify shortens only paths under the home folder', () => {
  assert.equal(tildify('/home/ada/.claude/settings.json', '/home/ada'), '~/.claude/settings.json');
  assert.equal(tildify('/home/adam/x', '/home/ada'), '/home/adam/x');
});
