/**
 * What the bundles' esbuild plugins put in place of library code. The bundles resolve
 * `@grpc/proto-loader` to build/proto-loader-lite.cjs, fed with etcd3's protos as JSON made at
 * build time: it must give grpc-js exactly what the real loader gives etcd3 (the same methods,
 * paths, stream flags and names, and byte-identical messages both ways). grpc-js's server side is
 * replaced by stubs that say so when used.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const root = join(import.meta.dirname, '..', '..');
const { etcdProtoDescriptor } = require(join(root, 'build/esbuild-etcd-protos.cjs')) as {
  etcdProtoDescriptor(): string;
};
const lite = require(join(root, 'build/proto-loader-lite.cjs')) as {
  fromJSON(json: unknown, options: object): Definition;
  loadSync(): never;
};
const etcd3 = dirname(require.resolve('etcd3/package.json'));
const real = require(require.resolve('@grpc/proto-loader', { paths: [etcd3] })) as {
  loadSync(file: string, options: object): Definition;
};

type Method = {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  originalName: string;
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(buffer: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(buffer: Buffer): unknown;
};
type Definition = Record<string, Record<string, Method> & { format?: string }>;

// etcd3's own options (lib/connection-pool.js).
const OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const expected = real.loadSync(join(etcd3, 'proto', 'rpc.proto'), OPTIONS);
const actual = lite.fromJSON(JSON.parse(etcdProtoDescriptor()), OPTIONS);
const services = Object.keys(expected).filter((name) => !('format' in expected[name]!));

describe('proto-loader-lite', () => {
  it('defines every etcd service method as @grpc/proto-loader does', () => {
    expect(Object.keys(actual).sort()).toEqual([...services].sort());
    for (const service of services) {
      expect(Object.keys(actual[service]!).sort()).toEqual(Object.keys(expected[service]!).sort());
      for (const [name, method] of Object.entries(expected[service]!)) {
        const { path, requestStream, responseStream, originalName } = method as Method;
        expect(actual[service]![name]).toMatchObject({ path, requestStream, responseStream, originalName });
      }
    }
  });

  it('encodes requests and decodes responses byte for byte like @grpc/proto-loader', () => {
    const txn = {
      compare: [
        { key: Buffer.from('registrar/tasks/c/t'), target: 'MOD', result: 'EQUAL', mod_revision: '9007199254740993' },
      ],
      success: [{ request_put: { key: Buffer.from('k'), value: Buffer.from('v'), lease: '7587869512471142666' } }],
      failure: [{ request_range: { key: Buffer.from('k') } }],
    };
    const response = {
      header: {
        cluster_id: '14841639068965178418',
        member_id: '10276657743932975437',
        revision: '9007199254740993',
        raft_term: '2',
      },
      succeeded: false,
      responses: [
        {
          response_range: {
            header: null,
            kvs: [
              {
                key: Buffer.from('k'),
                create_revision: '5',
                mod_revision: '6',
                version: '1',
                value: Buffer.from('{"a":1}'),
                lease: '7587869512471142666',
              },
            ],
            more: false,
            count: '1',
          },
        },
      ],
    };
    const pairs: [string, string, unknown, unknown][] = [
      ['etcdserverpb.KV', 'Txn', txn, response],
      [
        'etcdserverpb.KV',
        'Range',
        { key: Buffer.from('a'), range_end: Buffer.from('b'), limit: '1000', revision: '42' },
        { kvs: [], more: true, count: '12' },
      ],
      ['etcdserverpb.Lease', 'LeaseGrant', { TTL: '180' }, { ID: '7587869512471142666', TTL: '180', error: '' }],
      ['etcdserverpb.Lease', 'LeaseKeepAlive', { ID: '7587869512471142666' }, { ID: '7587869512471142666', TTL: '0' }],
    ];
    for (const [service, name, request, reply] of pairs) {
      const want = expected[service]![name] as Method;
      const got = actual[service]![name]!;
      expect(got.requestSerialize(request)).toEqual(want.requestSerialize(request));
      const bytes = want.responseSerialize(reply);
      expect(got.responseSerialize(reply)).toEqual(bytes);
      expect(got.responseDeserialize(bytes)).toEqual(want.responseDeserialize(bytes));
      expect(got.requestDeserialize(want.requestSerialize(request))).toEqual(
        want.requestDeserialize(want.requestSerialize(request)),
      );
    }
  });

  it('refuses to load .proto files: the bundles carry no parser', () => {
    expect(() => lite.loadSync()).toThrow(/no \.proto loader/);
  });
});

describe('grpc-js client only', () => {
  it('bundles grpc-js without its server: a client channel works, a Server says it is not bundled', async () => {
    const { grpcClientOnlyPlugin } = require(join(root, 'build/esbuild-grpc-client.cjs')) as {
      grpcClientOnlyPlugin(): import('esbuild').Plugin;
    };
    const { options } = require(join(root, 'build/esbuild-options.cjs')) as { options: import('esbuild').BuildOptions };
    const dir = mkdtempSync(join(tmpdir(), 'grpc-client-only-'));
    try {
      const result = await build({
        ...options,
        stdin: { contents: "export * as grpc from '@grpc/grpc-js';", resolveDir: root, loader: 'js' },
        outfile: join(dir, 'grpc.mjs'),
        splitting: false,
        metafile: true,
        plugins: [grpcClientOnlyPlugin()],
        logLevel: 'silent',
      });
      expect(
        Object.keys(result.metafile!.inputs).filter((input) =>
          /grpc-js\/build\/src\/(server|server-interceptors|orca)\.js$/.test(input),
        ),
      ).toEqual([]);
      const { grpc } = (await import(pathToFileURL(join(dir, 'grpc.mjs')).href)) as {
        grpc: typeof import('@grpc/grpc-js');
      };
      const client = new grpc.Client('127.0.0.1:1', grpc.credentials.createInsecure());
      expect(client.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.IDLE);
      client.close();
      expect(() => new grpc.Server()).toThrow(/not bundled/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
