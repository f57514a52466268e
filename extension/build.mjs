// Bundles the extension (and its tests) with esbuild; `tsc --noEmit` does the type checking.
//   node extension/build.mjs                the extension, with source maps (F5, UI tests)
//   node extension/build.mjs --production   the extension for the .vsix (vsce runs this)
//   node extension/build.mjs --watch        rebuild on change (the F5 pre-launch task)
//   node extension/build.mjs --unit-tests   the unit tests, with `vscode` replaced by a fake
//   node extension/build.mjs --ui-tests     the code-server + Playwright UI tests
import * as esbuild from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = new Set(process.argv.slice(2));
const node = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'warning' };

const tests = (dir) =>
  readdirSync(join(here, dir))
    .filter((f) => f.endsWith('.test.ts') || f === 'run.ts')
    .map((f) => join(here, dir, f));

if (args.has('--unit-tests')) {
  await esbuild.build({
    ...node,
    entryPoints: tests('test/unit'),
    outdir: join(here, 'out/test/unit'),
    sourcemap: 'inline',
    alias: { vscode: join(here, 'test/unit/fake-vscode.ts') },
  });
} else if (args.has('--ui-tests')) {
  await esbuild.build({
    ...node,
    entryPoints: [join(here, 'test/ui/run.ts'), join(here, 'test/ui/bench.ts')],
    outdir: join(here, 'out/test/ui'),
    sourcemap: 'inline',
    external: ['playwright-core'],
  });
} else {
  const options = {
    ...node,
    entryPoints: [join(here, 'src/extension.ts')],
    outfile: join(here, 'dist/extension.js'),
    external: ['vscode'],
    sourcemap: !args.has('--production'),
    minify: args.has('--production'),
  };
  if (args.has('--watch')) {
    const ctx = await esbuild.context({ ...options, logLevel: 'info' });
    await ctx.watch();
  } else {
    await esbuild.build(options);
    // A development build's source map would not match the minified bundle.
    if (args.has('--production')) rmSync(`${options.outfile}.map`, { force: true });
  }
}
