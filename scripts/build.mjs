#!/usr/bin/env node
// Bundles each function into dist/<function>/ (ESM, minified, etcd3's protos inlined) and prints
// the size of each bundle. The same esbuild options are used by serverless-esbuild on deploy.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { options, plugins } = require('../build/esbuild-options.cjs');

/** The functions and their entry files. */
export const FUNCTIONS = ['register', 'deregister', 'renew', 'follow'];

/** esbuild options shared with serverless.yml (build/esbuild-options.cjs). */
export const esbuildOptions = {
  ...options,
  outExtension: { '.js': '.mjs' },
  logLevel: 'warning',
};

/** The package a bundled input file belongs to (`lib`, `functions`, `build` for the project's own). */
function packageOf(input) {
  const parts = input.split('node_modules/');
  if (parts.length === 1) return input.split('/')[0];
  const rest = parts[parts.length - 1].split('/');
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

/**
 * What a cold start loads: the entry file and every chunk it imports statically, with the bytes
 * each package contributes to them (from esbuild's metafile).
 */
function loadedAtStart(metafile, entry) {
  const files = new Set();
  const visit = (file) => {
    if (files.has(file)) return;
    files.add(file);
    for (const imported of metafile.outputs[file].imports)
      if (imported.kind === 'import-statement' && metafile.outputs[imported.path]) visit(imported.path);
  };
  visit(entry);
  const packages = {};
  let bytes = 0;
  for (const file of files) {
    bytes += metafile.outputs[file].bytes;
    for (const [input, { bytesInOutput }] of Object.entries(metafile.outputs[file].inputs))
      packages[packageOf(input)] = (packages[packageOf(input)] ?? 0) + bytesInOutput;
  }
  return { bytes, packages: Object.fromEntries(Object.entries(packages).sort((a, b) => b[1] - a[1])) };
}

/**
 * Builds every function; returns per function the entry file's bytes, the bytes a cold start
 * loads (entry + statically imported chunks) and which packages they come from, and the bytes
 * shipped (including lazily loaded chunks).
 */
export async function buildFunctions(outdir = 'dist') {
  rmSync(outdir, { recursive: true, force: true });
  const sizes = {};
  for (const name of FUNCTIONS) {
    const dir = join(outdir, name);
    mkdirSync(dir, { recursive: true });
    const { metafile } = await build({
      ...esbuildOptions,
      entryPoints: { index: `functions/${name}.ts` },
      outdir: dir,
      plugins: plugins(),
      metafile: true,
    });
    const entry = Object.keys(metafile.outputs).find((f) => f.endsWith(`${name}/index.mjs`));
    const loaded = loadedAtStart(metafile, entry);
    const files = readdirSync(dir).map((f) => ({ file: f, bytes: statSync(join(dir, f)).size }));
    sizes[name] = {
      entryBytes: metafile.outputs[entry].bytes,
      loadedBytes: loaded.bytes,
      loadedPackages: loaded.packages,
      totalBytes: files.reduce((s, f) => s + f.bytes, 0),
      files,
    };
  }
  return sizes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = await buildFunctions(process.argv[2] ?? 'dist');
  for (const [name, s] of Object.entries(sizes))
    console.log(
      `${name.padEnd(10)} loaded at start ${(s.loadedBytes / 1024).toFixed(0).padStart(5)} KB   shipped ${(s.totalBytes / 1024).toFixed(0).padStart(5)} KB (${s.files.length} files)`,
    );
  // The operator CLI (the package's bin) goes beside the functions.
  const cli = await (await import('./build-cli.mjs')).buildCli(join(process.argv[2] ?? 'dist', 'cli'));
  console.log(`cli        ${cli.file} ${(cli.bytes / 1024).toFixed(0).padStart(5)} KB (one file)`);
}
