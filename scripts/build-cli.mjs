#!/usr/bin/env node
// Bundles the operator CLI (scripts/cli.ts) into one self-contained file,
// dist/cli/ecs-etcd-registrar.mjs, the package's `bin`: it runs with plain Node, without tsx and
// without the package's dependencies installed. Built by `npm run build` and before `npm pack`.
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { options, plugins } = require('../build/esbuild-options.cjs');

/** The bin's file name inside the output directory. */
export const CLI_FILE = 'ecs-etcd-registrar.mjs';

/** Builds the CLI into `<outdir>/ecs-etcd-registrar.mjs` and returns its path and size in bytes. */
export async function buildCli(outdir = join('dist', 'cli')) {
  rmSync(outdir, { recursive: true, force: true });
  const outfile = join(outdir, CLI_FILE);
  const { metafile } = await build({
    ...options,
    // One file: a bin is run by path, so it must not depend on chunks beside it. The entry's
    // `#!/usr/bin/env node` line is kept by esbuild.
    splitting: false,
    entryPoints: [join(import.meta.dirname, 'cli.ts')],
    outfile,
    plugins: plugins(),
    metafile: true,
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
  return { file: outfile, bytes: metafile.outputs[Object.keys(metafile.outputs)[0]].bytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { file, bytes } = await buildCli(process.argv[2]);
  console.error(`cli        ${file} ${(bytes / 1024).toFixed(0).padStart(5)} KB`);
}
