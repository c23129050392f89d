#!/usr/bin/env node
// Bundles each function into dist/<function>/ (ESM, minified, etcd3's protos inlined) and prints
// the size of each bundle. The same esbuild options are used by serverless-esbuild on deploy.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { etcdProtosPlugin } = require('../build/esbuild-etcd-protos.cjs');

/** The functions and their entry files. */
export const FUNCTIONS = ['register', 'deregister', 'renew'];

/** esbuild options shared with serverless.yml (build/esbuild-options.cjs). */
export const esbuildOptions = {
  ...require('../build/esbuild-options.cjs').options,
  outExtension: { '.js': '.mjs' },
  logLevel: 'warning',
};

/** Bytes of a bundle file plus every chunk it imports statically (what a cold start loads). */
function loadedBytes(dir, file, seen = new Set()) {
  if (seen.has(file)) return 0;
  seen.add(file);
  const source = readFileSync(join(dir, file), 'utf8');
  const imports = [...source.matchAll(/(?:^|[;}\s])(?:import|export)\s*(?:[^'"();]*?from\s*)?["']\.\/([^"']+\.mjs)["']/g)].map((m) => m[1]);
  return Buffer.byteLength(source) + imports.reduce((sum, f) => sum + loadedBytes(dir, f, seen), 0);
}

/**
 * Builds every function; returns per function the entry file's bytes, the bytes a cold start
 * loads (entry + statically imported chunks) and the bytes shipped (including lazily loaded chunks).
 */
export async function buildFunctions(outdir = 'dist') {
  rmSync(outdir, { recursive: true, force: true });
  const sizes = {};
  for (const name of FUNCTIONS) {
    const dir = join(outdir, name);
    mkdirSync(dir, { recursive: true });
    await build({ ...esbuildOptions, entryPoints: { index: `functions/${name}.ts` }, outdir: dir, plugins: [etcdProtosPlugin()] });
    const files = readdirSync(dir).map((f) => ({ file: f, bytes: statSync(join(dir, f)).size }));
    sizes[name] = { entryBytes: statSync(join(dir, 'index.mjs')).size, loadedBytes: loadedBytes(dir, 'index.mjs'), totalBytes: files.reduce((s, f) => s + f.bytes, 0), files };
  }
  return sizes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = await buildFunctions(process.argv[2] ?? 'dist');
  for (const [name, s] of Object.entries(sizes))
    console.log(`${name.padEnd(10)} loaded at start ${(s.loadedBytes / 1024).toFixed(0).padStart(5)} KB   shipped ${(s.totalBytes / 1024).toFixed(0).padStart(5)} KB (${s.files.length} files)`);
}
