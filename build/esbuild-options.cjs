/**
 * The esbuild options every bundle is built with, shared by `scripts/build.mjs` (npm run build,
 * benchmarks) and serverless-esbuild (serverless.yml reads `serverless()` below), so what is
 * measured is what is deployed.
 */
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

module.exports = {
  options,
  /** `custom.esbuild` for serverless-esbuild. */
  serverless: () => ({ ...options, outputFileExtension: '.js', plugins: 'build/esbuild-plugins.cjs' }),
};
