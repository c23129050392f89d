/**
 * The Envoy API protos the xDS server encodes with: the copies `@grpc/grpc-js-xds` ships (the same
 * files its clients decode with), loaded once with protobufjs in their protobuf field names.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
// The Envoy protos' annotations import google/protobuf/descriptor.proto, which protobufjs ships as
// JSON but does not register by itself (@grpc/proto-loader registers it the same way). Imported,
// not read at run time, so a bundle carries it.
import descriptor from 'protobufjs/google/protobuf/descriptor.json';
import type { Resource, TypeUrl } from './resources';

const FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
];
const INCLUDE = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'];

/** An encoded `google.protobuf.Any`. */
export interface EncodedAny {
  readonly type_url: string;
  readonly value: Uint8Array;
}

/** Decoded fields of a DiscoveryRequest the server reads. */
export interface DiscoveryRequest {
  readonly version_info: string;
  readonly node?: { readonly id?: string; readonly cluster?: string; readonly locality?: { readonly zone?: string } };
  readonly resource_names: readonly string[];
  readonly type_url: string;
  readonly response_nonce: string;
  readonly error_detail?: { readonly code?: number; readonly message?: string };
}

/** A DiscoveryResponse as the server sends it. */
export interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly EncodedAny[];
  readonly type_url: string;
  readonly nonce: string;
}

/** Encoders and decoders for the ADS stream and its resources. */
export interface EnvoyProtos {
  encodeResource(type: TypeUrl, resource: Resource): EncodedAny;
  decodeRequest(bytes: Buffer): DiscoveryRequest;
  encodeResponse(response: DiscoveryResponse): Buffer;
  /** Decodes a resource (tests and raw clients read what the server sends with it). */
  decodeResource(any: EncodedAny): Record<string, unknown>;
  /** A client's side of the stream (the benchmark's raw ADS clients). */
  encodeRequest(request: Partial<DiscoveryRequest>): Buffer;
  decodeResponse(bytes: Buffer): DiscoveryResponse;
}

/**
 * Where the protos are: `envoy-protos/` beside the running file (the xDS bundle of the container
 * image, `scripts/build-xds.mjs`), else the `deps` directory of the installed `@grpc/grpc-js-xds`;
 * a clear error when neither is there.
 */
export function envoyProtoDir(): string {
  const beside = join(dirname(fileURLToPath(import.meta.url)), 'envoy-protos');
  if (existsSync(join(beside, 'envoy-api'))) return beside;
  try {
    const require = createRequire(import.meta.url);
    const dir = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
    if (existsSync(join(dir, 'envoy-api'))) return dir;
  } catch {
    // reported below
  }
  throw new Error(
    'the xDS server needs the Envoy protos of @grpc/grpc-js-xds: run it from a clone of the project after npm ci ' +
      '(npm run cli -- xds) or from the container image (Dockerfile), not from the bundled bin',
  );
}

let loaded: EnvoyProtos | undefined;

/** Loads the protos (once per process; about a second). */
export function loadEnvoyProtos(dir = envoyProtoDir()): EnvoyProtos {
  if (loaded) return loaded;
  protobuf.common('descriptor', (descriptor as any).nested.google.nested.protobuf.nested);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const include of INCLUDE) {
      const path = join(dir, include, target);
      if (existsSync(path)) return path;
    }
    return target;
  };
  root.loadSync(FILES, { keepCase: true });
  root.resolveAll();
  const request = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  const response = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  const typeOf = (url: string) => root.lookupType(url.slice(url.lastIndexOf('/') + 1));
  loaded = {
    encodeResource: (type, resource) => {
      const message = typeOf(type);
      return { type_url: type, value: message.encode(message.fromObject(resource)).finish() };
    },
    decodeRequest: (bytes) =>
      request.toObject(request.decode(bytes), { defaults: true, arrays: true, longs: String }) as DiscoveryRequest,
    encodeResponse: (res) => Buffer.from(response.encode(response.fromObject(res)).finish()),
    encodeRequest: (req) => Buffer.from(request.encode(request.fromObject(req)).finish()),
    decodeResponse: (bytes) =>
      response.toObject(response.decode(bytes), { defaults: true, arrays: true }) as DiscoveryResponse,
    decodeResource: (any) => {
      const message = typeOf(any.type_url);
      return message.toObject(message.decode(any.value), { enums: String, longs: Number, json: true }) as Record<
        string,
        unknown
      >;
    },
  };
  return loaded;
}
