/**
 * Real gRPC servers and clients on 127.0.0.1 for the tests, the demo and the benchmark. Every
 * server implements the standard `grpc.health.v1.Health/Check` (test/fixtures/grpc/health.proto;
 * grpc-go ships the same service, so Go and TypeScript clients and servers all talk to each
 * other) and counts the calls it receives.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';

const PROTO = join(import.meta.dirname, '..', 'fixtures', 'grpc', 'health.proto');

type HealthClientConstructor = new (
  target: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => HealthClient;

/** A grpc.health.v1.Health client. */
export interface HealthClient extends grpc.Client {
  check(
    request: { service?: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, response?: { status: string }) => void,
  ): grpc.ClientUnaryCall;
}

let health: { service: grpc.ServiceDefinition; Client: HealthClientConstructor } | undefined;

function healthService() {
  if (!health) {
    const definition = protoLoader.loadSync(PROTO, { enums: String, defaults: true });
    const ctor = (grpc.loadPackageDefinition(definition) as any).grpc.health.v1.Health;
    health = { service: ctor.service as grpc.ServiceDefinition, Client: ctor as HealthClientConstructor };
  }
  return health;
}

/** A running grpc-js server standing in for one task. */
export interface Backend {
  /** Label for output, e.g. `task-1`. */
  readonly name: string;
  readonly port: number;
  /** `127.0.0.1:<port>`, or `[::1]:<port>` for a server on IPv6 loopback. */
  readonly addr: string;
  /** Calls received so far. */
  readonly calls: number;
  /** `performance.now()` when the last call arrived. */
  readonly lastCallAt: number | undefined;
  /** Stops the server: no new calls, in-flight calls finish. */
  stop(): Promise<void>;
}

/** Starts a Health server on a free loopback port (IPv4, or IPv6 `::1` when `options.ipv6`). */
export async function startBackend(name: string, options: { readonly ipv6?: boolean } = {}): Promise<Backend> {
  const host = options.ipv6 ? '[::1]' : '127.0.0.1';
  const server = new grpc.Server();
  const state = { calls: 0, lastCallAt: undefined as number | undefined };
  server.addService(healthService().service, {
    check: (_call: unknown, callback: grpc.sendUnaryData<{ status: string }>) => {
      state.calls++;
      state.lastCallAt = performance.now();
      callback(null, { status: 'SERVING' });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  let stopped: Promise<void> | undefined;
  return {
    name,
    port,
    addr: `${host}:${port}`,
    get calls() {
      return state.calls;
    },
    get lastCallAt() {
      return state.lastCallAt;
    },
    stop: () => (stopped ??= new Promise<void>((resolve) => server.tryShutdown(() => resolve()))),
  };
}

/** A Health client for a target such as `etcd:///services/api` (register the resolver first). */
export function healthClient(target: string, options: grpc.ChannelOptions = {}): HealthClient {
  return new (healthService().Client)(target, grpc.credentials.createInsecure(), options);
}

/** One Check call; resolves with the address of the server that answered. */
export function check(
  client: HealthClient,
  options: { deadlineMs?: number; waitForReady?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    // Wait-for-ready queues the call until an endpoint is ready instead of failing fast.
    const metadata = new grpc.Metadata({ waitForReady: options.waitForReady ?? false });
    const call = client.check({}, metadata, { deadline: Date.now() + (options.deadlineMs ?? 2000) }, (err) => {
      if (err) reject(err);
      else resolve(call.getPeer());
    });
  });
}

/** `count` sequential calls; answers per server address, and the errors. */
export async function callMany(
  client: HealthClient,
  count: number,
  options: { deadlineMs?: number; waitForReady?: boolean } = {},
): Promise<{ byPeer: Map<string, number>; errors: grpc.ServiceError[] }> {
  const byPeer = new Map<string, number>();
  const errors: grpc.ServiceError[] = [];
  for (let i = 0; i < count; i++) {
    try {
      const peer = await check(client, options);
      byPeer.set(peer, (byPeer.get(peer) ?? 0) + 1);
    } catch (err) {
      errors.push(err as grpc.ServiceError);
    }
  }
  return { byPeer, errors };
}

/** Calls from `loops` concurrent loops until stopped; then says how many calls were made and which failed. */
export function keepCalling(
  client: HealthClient,
  loops = 1,
): { stop(): Promise<{ calls: number; errors: grpc.ServiceError[] }> } {
  let running = true;
  let calls = 0;
  const errors: grpc.ServiceError[] = [];
  const loop = async () => {
    for (; running; calls++) await check(client).catch((err: grpc.ServiceError) => errors.push(err));
  };
  const all = Promise.all(Array.from({ length: loops }, loop));
  return {
    stop: async () => {
      running = false;
      await all;
      return { calls, errors };
    },
  };
}

/** How many calls each server has received so far. */
export const callsOf = (servers: readonly Backend[]): number[] => servers.map((s) => s.calls);

/** How many calls each server has received since `before` (a {@link callsOf} taken earlier). */
export const callsSince = (servers: readonly Backend[], before: readonly number[]): number[] =>
  callsOf(servers).map((n, i) => n - before[i]!);
