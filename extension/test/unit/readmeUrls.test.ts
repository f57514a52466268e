// extension/readme-urls.mjs: where the packaged README's images and links point (run as the
// packaging script runs it, a separate ES module).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, test } from 'node:test';

const script = path.resolve(__dirname, '..', '..', '..', 'readme-urls.mjs');

function urls(repository: unknown): { content: string; images: string } {
  const code = `import { readmeUrls } from ${JSON.stringify(script)}; console.log(JSON.stringify(readmeUrls({ repository: ${JSON.stringify(repository)} })));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}

describe('README addresses in the package', () => {
  test('come from the GitHub repository in any spelling package.json allows', () => {
    const want = {
      content: 'https://github.com/acme/claude-sync/blob/HEAD',
      images: 'https://raw.githubusercontent.com/acme/claude-sync/HEAD',
    };
    for (const r of ['https://github.com/acme/claude-sync.git', { type: 'git', url: 'git@github.com:acme/claude-sync.git' }, 'https://github.com/acme/claude-sync']) {
      assert.deepEqual(urls(r), want, JSON.stringify(r));
    }
  });

  test('a missing or non-GitHub repository is an error, not a package with broken pictures', () => {
    for (const r of [undefined, 'https://gitlab.com/acme/claude-sync.git']) {
      assert.throws(() => urls(r), /"repository" must name a GitHub repository/);
    }
  });

  test("this package's flags, as scripts/package-extension.sh passes them to vsce", () => {
    const flags = execFileSync(process.execPath, [script], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual([flags[0], flags[2]], ['--baseContentUrl', '--baseImagesUrl']);
    assert.match(flags[3], /^https:\/\/raw\.githubusercontent\.com\/[^/]+\/[^/]+\/HEAD$/);
  });
});
