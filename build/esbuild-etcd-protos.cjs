/**
 * esbuild plugin: etcd3 reads `proto/rpc.proto` from beside its own file when it is imported,
 * which a bundle does not have. This inlines the parsed protos (a protobufjs JSON descriptor made
 * at build time) and resolves `@grpc/proto-loader` to proto-loader-lite.cjs, which builds the
 * client's service definitions from that JSON with protobufjs's light build, so each bundle is
 * self-contained and carries no .proto parser.
 * CommonJS so that both scripts/build.mjs and serverless-esbuild can load it.
 */
const { readFileSync } = require('node:fs');
const path = require('node:path');
const protobuf = require('protobufjs');

const LOAD_SYNC = /\(0, proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`,/;
const LITE_LOADER = path.join(__dirname, 'proto-loader-lite.cjs');

/**
 * What proto-loader-lite.cjs needs: the protos as protobufjs JSON, and per service method what
 * gRPC needs (path, stream flags, the method name etcd3 calls), taken from the real loader so it
 * matches it exactly, plus the full names of its message types.
 */
function etcdProtoDescriptor() {
  const etcd3 = path.dirname(require.resolve('etcd3/package.json'));
  const rpcProto = path.join(etcd3, 'proto', 'rpc.proto');
  // The same parse options etcd3 gives proto-loader (keepCase) so field names match.
  const root = new protobuf.Root();
  root.loadSync(rpcProto, { keepCase: true });
  root.resolveAll();
  const loader = require(require.resolve('@grpc/proto-loader', { paths: [etcd3] }));
  const definition = loader.loadSync(rpcProto, { keepCase: true });
  const services = {};
  for (const [name, value] of Object.entries(definition)) {
    if ('format' in value) continue; // a message or enum, not a service
    const service = root.lookupService(name);
    services[name] = Object.fromEntries(
      Object.entries(value).map(([method, { path, requestStream, responseStream, originalName }]) => [
        method,
        {
          path,
          requestStream,
          responseStream,
          originalName,
          requestType: service.methods[method].resolvedRequestType.fullName.slice(1),
          responseType: service.methods[method].resolvedResponseType.fullName.slice(1),
        },
      ]),
    );
  }
  // Services are described above: the root keeps only the message and enum types.
  const types = root.toJSON();
  for (const name of Object.keys(services)) {
    const parts = name.split('.');
    delete parts.slice(0, -1).reduce((node, part) => node.nested[part], types).nested[parts.at(-1)];
  }
  return JSON.stringify({ root: types, services });
}

/** @returns {import('esbuild').Plugin} */
function etcdProtosPlugin() {
  return {
    name: 'etcd3-inline-protos',
    setup(build) {
      let descriptor;
      build.onResolve({ filter: /^@grpc\/proto-loader$/ }, () => ({ path: LITE_LOADER }));
      build.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!LOAD_SYNC.test(source))
          throw new Error(`etcd3 changed how it loads its protos (${args.path}): update build/esbuild-etcd-protos.cjs`);
        descriptor ??= etcdProtoDescriptor();
        return {
          contents: source.replace(LOAD_SYNC, `(0, proto_loader_1.fromJSON)(${descriptor},`),
          loader: 'js',
          resolveDir: path.dirname(args.path),
        };
      });
    },
  };
}

module.exports = { etcdProtosPlugin, etcdProtoDescriptor };
