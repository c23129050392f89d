#!/usr/bin/env node
// Bundles each function into dist/<function>/ (ESM, minified, etcd3's protos inlined) and prints
// the size of each bundle. The same esbuild options are used by serverless-esbuild on deploy.
import { build } from 'esbuild';
import { mkdirSync, rmSync, statSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { etcdProtosPlugin } = require('../build/esbuild-etcd-protos.cjs');

/** The functions and their entry files. */
export const FUNCTIONS = ['register', 'deregister', 'renew'];

/** esbuild options shared by this script and serverless.yml. */
export const esbuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: true,
  splitting: true,
  outExtension: { '.js': '.mjs' },
  // CommonJS dependencies (etcd3, grpc-js) call require() for Node built-ins.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
};

/** Builds every function; returns bytes per function (entry plus chunks it ships with). */
export async function buildFunctions(outdir = 'dist') {
  rmSync(outdir, { recursive: true, force: true });
  const sizes = {};
  for (const name of FUNCTIONS) {
    const dir = join(outdir, name);
    mkdirSync(dir, { recursive: true });
    await build({ ...esbuildOptions, entryPoints: { index: `functions/${name}.ts` }, outdir: dir, plugins: [etcdProtosPlugin()] });
    const files = readdirSync(dir).map((f) => ({ file: f, bytes: statSync(join(dir, f)).size }));
    sizes[name] = { entryBytes: statSync(join(dir, 'index.mjs')).size, totalBytes: files.reduce((s, f) => s + f.bytes, 0), files };
  }
  return sizes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = await buildFunctions(process.argv[2] ?? 'dist');
  for (const [name, s] of Object.entries(sizes))
    console.log(`${name.padEnd(10)} index.mjs ${(s.entryBytes / 1024).toFixed(0).padStart(5)} KB   all files ${(s.totalBytes / 1024).toFixed(0).padStart(5)} KB (${s.files.length} files)`);
}
