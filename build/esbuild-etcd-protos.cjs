/**
 * esbuild plugin: etcd3 reads `proto/rpc.proto` from beside its own file when it is imported,
 * which a bundle does not have. This inlines the parsed protos (a protobufjs JSON descriptor made
 * at build time) and loads them with proto-loader's `fromJSON`, so each bundle is self-contained.
 * CommonJS so that both scripts/build.mjs and serverless-esbuild can load it.
 */
const { readFileSync } = require('node:fs');
const path = require('node:path');
const protobuf = require('protobufjs');

const LOAD_SYNC = /\(0, proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`,/;

function etcdProtoDescriptor() {
  const rpcProto = require.resolve('etcd3/proto/rpc.proto');
  const root = new protobuf.Root();
  // The same parse options etcd3 gives proto-loader (keepCase) so field names match.
  root.loadSync(rpcProto, { keepCase: true });
  return JSON.stringify(root.toJSON());
}

/** @returns {import('esbuild').Plugin} */
function etcdProtosPlugin() {
  return {
    name: 'etcd3-inline-protos',
    setup(build) {
      let descriptor;
      build.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!LOAD_SYNC.test(source)) throw new Error(`etcd3 changed how it loads its protos (${args.path}): update build/esbuild-etcd-protos.cjs`);
        descriptor ??= etcdProtoDescriptor();
        return { contents: source.replace(LOAD_SYNC, `(0, proto_loader_1.fromJSON)(${descriptor},`), loader: 'js', resolveDir: path.dirname(args.path) };
      });
    },
  };
}

module.exports = { etcdProtosPlugin };
