// esbuild plugins for serverless-esbuild (`custom.esbuild.plugins` in serverless.yml): the plugins
// every bundle is built with (esbuild-options.cjs `plugins()`), then two that only the layout of
// serverless-esbuild's output needs.
const { mkdirSync, rmSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const { plugins } = require('./esbuild-options.cjs');

/**
 * Marks the bundle directory as ES modules (`{"type":"module"}` beside the `.js` files), so both
 * Lambda's Node runtime and `serverless invoke local` (which only loads `.js`/`.cjs` handlers)
 * load the ESM bundles.
 * @returns {import('esbuild').Plugin}
 */
function esmPackageJsonPlugin() {
  return {
    name: 'esm-package-json',
    setup(build) {
      build.onEnd(() => {
        const outdir = build.initialOptions.outdir ?? path.dirname(build.initialOptions.outfile);
        mkdirSync(outdir, { recursive: true });
        writeFileSync(path.join(outdir, 'package.json'), '{"type":"module"}\n');
      });
    },
  };
}

/**
 * Puts the chunks of each function's build beside its entry file as `functions/<name>.chunks/`, so
 * each zip ships only what its function can load. serverless-esbuild builds every function into the
 * same directory and zips everything in it except the other functions' entry files and the files
 * "derived" from them (names starting with `<other entry>.`, meant for source maps): chunks named
 * `<entry>.chunks/…` are derived files, so every other zip leaves them out. Without this, every zip
 * held every function's chunks (the EC2 client of register and renew in deregister, say).
 * @returns {import('esbuild').Plugin}
 */
function chunksPerFunctionPlugin() {
  return {
    name: 'chunks-per-function',
    setup(build) {
      const entries = Object.values(build.initialOptions.entryPoints ?? {});
      if (entries.length !== 1) return; // one function per build is what serverless-esbuild does
      const entry = typeof entries[0] === 'string' ? entries[0] : entries[0].in;
      build.initialOptions.chunkNames = `${path.basename(entry, path.extname(entry))}.chunks/[name]-[hash]`;
      // esbuild writes a chunk for every dynamic import() target even when tree shaking dropped
      // the import itself (the SDK's browser user-agent parser, bowser): nothing can load it.
      build.initialOptions.metafile = true;
      build.onEnd((result) => {
        const outputs = result.metafile?.outputs ?? {};
        const reachable = new Set();
        const visit = (file) => {
          if (reachable.has(file) || !outputs[file]) return;
          reachable.add(file);
          for (const imported of outputs[file].imports) visit(imported.path);
        };
        // Every dynamic import() target is an entry point to esbuild: start from the function's own.
        for (const [file, output] of Object.entries(outputs))
          if (output.entryPoint && path.resolve(output.entryPoint) === path.resolve(entry)) visit(file);
        if (reachable.size === 0) return; // the entry was not found: delete nothing
        for (const file of Object.keys(outputs)) if (!reachable.has(file)) rmSync(file, { force: true });
      });
    },
  };
}

module.exports = [...plugins(), esmPackageJsonPlugin(), chunksPerFunctionPlugin()];
