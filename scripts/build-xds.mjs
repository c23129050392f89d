#!/usr/bin/env node
// Builds what the xDS server's container image runs (Dockerfile): the CLI bundled into one file
// with grpc-js's server side (the bin, scripts/build-cli.mjs, leaves it out), and beside it the
// Envoy protos of @grpc/grpc-js-xds that the server encodes with (lib/xds/protos.ts finds them in
// envoy-protos/). Runs with plain Node and nothing else installed.
import { build } from 'esbuild';
import { cpSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const { options } = require('../build/esbuild-options.cjs');
const { etcdProtosPlugin } = require('../build/esbuild-etcd-protos.cjs');

/** The bundle's file name inside the output directory. */
export const XDS_FILE = 'ecs-etcd-registrar.mjs';

/** Builds into `outdir` (emptied first); returns the bundle's path and size in bytes. */
export async function buildXds(outdir = join('dist', 'xds')) {
  rmSync(outdir, { recursive: true, force: true });
  const outfile = join(outdir, XDS_FILE);
  const { metafile } = await build({
    ...options,
    splitting: false,
    entryPoints: [join(import.meta.dirname, 'cli.ts')],
    outfile,
    plugins: [etcdProtosPlugin()],
    metafile: true,
    logLevel: 'warning',
  });
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  cpSync(deps, join(outdir, 'envoy-protos'), {
    recursive: true,
    filter: (path) => statSync(path).isDirectory() || path.endsWith('.proto'),
  });
  return { file: outfile, bytes: metafile.outputs[Object.keys(metafile.outputs)[0]].bytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { file, bytes } = await buildXds(process.argv[2]);
  console.error(`xds        ${file} ${(bytes / 1024).toFixed(0).padStart(5)} KB (+ envoy-protos/)`);
}
