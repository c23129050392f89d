/**
 * The esbuild options and plugins every bundle is built with, shared by `scripts/build.mjs` (npm
 * run build, benchmarks), `scripts/build-cli.mjs` (the operator CLI) and serverless-esbuild
 * (serverless.yml reads `serverless()` below; its plugin file build/esbuild-plugins.cjs starts
 * from `plugins()`), so what is measured is what is deployed.
 */
const { etcdProtosPlugin } = require('./esbuild-etcd-protos.cjs');
const { grpcClientOnlyPlugin } = require('./esbuild-grpc-client.cjs');

const options = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  // Lazily imported code (the EC2 client, only for bridge/host tasks) goes into its own chunk.
  splitting: true,
  // Prefer each package's ES module build: esbuild can drop what is not imported (the AWS SDK's
  // CommonJS builds are single files holding every command and model).
  mainFields: ['module', 'main'],
  sourcemap: false,
  legalComments: 'none',
  // CommonJS dependencies (etcd3, grpc-js) call require() for Node built-ins.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};

/**
 * The plugins every bundle needs (fresh instances per build): etcd3's protos inlined, grpc-js
 * without its server side.
 * @returns {import('esbuild').Plugin[]}
 */
function plugins() {
  return [etcdProtosPlugin(), grpcClientOnlyPlugin()];
}

module.exports = {
  options,
  plugins,
  /** `custom.esbuild` for serverless-esbuild. */
  serverless: () => ({ ...options, outputFileExtension: '.js', plugins: 'build/esbuild-plugins.cjs' }),
};
