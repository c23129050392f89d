// esbuild plugins for serverless-esbuild (`custom.esbuild.plugins` in serverless.yml).
const { mkdirSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const { etcdProtosPlugin } = require('./esbuild-etcd-protos.cjs');
const { grpcClientOnlyPlugin } = require('./esbuild-grpc-client.cjs');

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
        for (const entry of Object.values(build.initialOptions.entryPoints ?? {})) void entry;
        mkdirSync(outdir, { recursive: true });
        writeFileSync(path.join(outdir, 'package.json'), '{"type":"module"}\n');
      });
    },
  };
}

module.exports = [etcdProtosPlugin(), grpcClientOnlyPlugin(), esmPackageJsonPlugin()];
