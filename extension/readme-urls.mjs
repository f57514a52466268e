// Where the README's relative links and images point once packaged: the extension's page (VS Code's
// and code-server's extension details) shows only https: and data: images and drops relative links,
// so `vsce package` rewrites them to the project's repository, named once in package.json's
// `repository` field. Images are published there (raw.githubusercontent.com serves the files of the
// default branch).
//   node extension/readme-urls.mjs           prints the vsce flags, one per line
//   import { readmeUrls } from './readme-urls.mjs'
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** {content, images} base URLs from a GitHub `repository` (a string or {url}). */
export function readmeUrls(pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))) {
  const url = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  const m = /github\.com[/:]([^/]+)\/([^/]+?)(\.git)?\/?$/.exec(url ?? '');
  if (!m) throw new Error(`package.json: "repository" must name a GitHub repository, not ${JSON.stringify(url)}`);
  const [, owner, repo] = m;
  return {
    content: `https://github.com/${owner}/${repo}/blob/HEAD`,
    images: `https://raw.githubusercontent.com/${owner}/${repo}/HEAD`,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { content, images } = readmeUrls();
  console.log(['--baseContentUrl', content, '--baseImagesUrl', images].join('\n'));
}
