/**
 * Bundled in place of `@grpc/proto-loader` (see esbuild-etcd-protos.cjs). A gRPC client needs
 * from the loader only each method's path, stream flags and (de)serializers; these come from
 * protobufjs's light build. The real loader also encodes a protobuf descriptor of every message
 * at load (for server reflection) and carries protobufjs's .proto parser and descriptor
 * extension: about 50 KB and most of a bundle's proto set-up time that a client never uses.
 *
 * The input is made at build time from etcd3's own protos by the real loader, so method names
 * (`originalName`, which etcd3 calls) are exactly what `@grpc/proto-loader` gives.
 */
const { Root } = require('protobufjs/light');

/**
 * Service definitions for `grpc.loadPackageDefinition`. protobufjs reflection is built on the
 * first message encoded or decoded, and only the message types used get their generated code
 * (resolving every type up front generates code for ~200 of them).
 *
 * @param {{ root: { nested: object }, services: Record<string, Record<string, MethodJson>> }} json
 *   protobufjs root JSON, and per service and method what gRPC needs (made at build time).
 * @param {object} options proto-loader's conversion options (`longs`, `enums`, `defaults`, ...).
 * @typedef {{ path: string, requestStream: boolean, responseStream: boolean, originalName: string, requestType: string, responseType: string }} MethodJson
 */
function fromJSON(json, options = {}) {
  let root;
  const types = new Map();
  const lookup = (name) => {
    let type = types.get(name);
    if (!type) {
      root ??= new Root().addJSON(json.root.nested);
      type = root.lookupType(name);
      types.set(name, type);
    }
    return type;
  };
  const definition = {};
  for (const [serviceName, methods] of Object.entries(json.services)) {
    definition[serviceName] = {};
    for (const [name, { requestType, responseType, ...method }] of Object.entries(methods)) {
      const request = () => lookup(requestType);
      const response = () => lookup(responseType);
      definition[serviceName][name] = {
        ...method,
        requestSerialize: serializer(request),
        requestDeserialize: deserializer(request, options),
        responseSerialize: serializer(response),
        responseDeserialize: deserializer(response, options),
      };
    }
  }
  return definition;
}

function serializer(typeOf) {
  return (value) => {
    const type = typeOf();
    if (Array.isArray(value))
      throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    return type.encode(type.fromObject(value)).finish();
  };
}

function deserializer(typeOf, options) {
  return (buffer) => {
    const type = typeOf();
    return type.toObject(type.decode(buffer), options);
  };
}

function notBundled() {
  // grpc-js reaches for the loader only to serve channelz or ORCA from a gRPC server.
  throw new Error('this bundle carries no .proto loader: only the etcd client protos are inlined');
}

module.exports = { fromJSON, load: notBundled, loadSync: notBundled };
