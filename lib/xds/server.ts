/**
 * The xDS management server: an Aggregated Discovery Service (xDS v3, state of the world) on
 * grpc-js, fed by a discovery watch of the whole registry directory (a Get at a revision, a watch
 * from the next, a resync after a compaction or an outage: `lib/discovery/watcher.ts`).
 *
 * Stateless: everything it serves comes from etcd, so any number of copies can run behind one
 * address and a restarted copy serves the same. It answers nothing before its first read of etcd
 * (an empty answer would tell clients their services were deleted), then keeps serving the last
 * state it read while etcd is unreachable, and says so in its log.
 */
import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { errorMessage } from '../discovery/errors';
import { asDirectory, watchService, type BackoffOptions, type ServiceWatcher } from '../discovery/watcher';
import type { Log } from '../log';
import { loadEnvoyProtos, type DiscoveryRequest, type EncodedAny, type EnvoyProtos } from './protos';
import { RegistryView } from './registry-view';
import { resourceFor, TypeUrl } from './resources';
import { StreamState } from './stream-state';

/** Options of {@link startXdsServer}. */
export interface XdsServerOptions {
  /** The etcd client to watch with (yours: closing the server does not close it). */
  readonly etcd: Etcd3;
  /** `REGISTRY_PREFIX`: every service under `<prefix>/` is served. */
  readonly registryPrefix: string;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /** Address to bind. @default "0.0.0.0" */
  readonly host?: string;
  /** TLS for clients; insecure when not given. */
  readonly credentials?: grpc.ServerCredentials;
  readonly log: Log;
  /** Retry timing of the etcd watch. */
  readonly backoff?: BackoffOptions;
}

/** A server's state, as its health check reports it. */
export interface XdsStatus {
  /** The first read of etcd is done: clients get answers. */
  readonly serving: boolean;
  /** The last read or watch of etcd failed: what is served is the last state read. */
  readonly etcdDown: boolean;
  readonly clients: number;
  readonly services: number;
  readonly endpoints: number;
}

/** A running xDS server. */
export interface XdsServer {
  /** The bound port. */
  readonly port: number;
  /** Resolves once the first read of etcd is served. */
  ready(): Promise<void>;
  /** Streams connected now. */
  readonly clients: number;
  /** What it serves now, for health checks and logs. */
  status(): XdsStatus;
  /** Stops serving: ends every stream, the etcd watch and the listener. */
  close(): Promise<void>;
}

/** How often a continuing etcd outage is logged again. */
const ETCD_DOWN_REPEAT_MS = 30_000;
const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const HEALTH_PATH = '/grpc.health.v1.Health/Check';
/** `grpc.health.v1.HealthCheckResponse` with `status` 1 (SERVING) or 2 (NOT_SERVING), encoded by hand. */
const healthResponse = (serving: boolean) => Buffer.from([0x08, serving ? 1 : 2]);

interface Stream {
  readonly state: StreamState;
  readonly call: grpc.ServerDuplexStream<DiscoveryRequest, Buffer>;
  /** Requests that came before the first read of etcd. */
  readonly waiting: DiscoveryRequest[];
  nonce: number;
}

function adsService(protos: EnvoyProtos): grpc.ServiceDefinition {
  return {
    StreamAggregatedResources: {
      path: ADS_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: () => Buffer.alloc(0),
      requestDeserialize: (bytes: Buffer) => protos.decodeRequest(bytes),
      responseSerialize: (bytes: Buffer) => bytes,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  };
}

const healthService: grpc.ServiceDefinition = {
  Check: {
    path: HEALTH_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: () => Buffer.alloc(0),
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (bytes: Buffer) => bytes,
    responseDeserialize: (bytes: Buffer) => bytes,
  },
};

/** The ADS service and the etcd watch behind it. */
class AdsServer {
  readonly view: RegistryView;
  private readonly protos = loadEnvoyProtos();
  private readonly streams = new Set<Stream>();
  /** Per service: `<type>|<zone>` → the resource encoded at a generation of the service. */
  private readonly encoded = new Map<string, Map<string, { token: number; any: EncodedAny }>>();
  /** Distinguishes this process's versions from those of an earlier run. */
  private readonly boot = Date.now().toString(36);
  private version = 0;
  private synced = false;
  private etcdDown = false;
  private warnedAt = 0;
  private watcher?: ServiceWatcher;
  private readonly firstSync: Promise<void>;
  private markSynced!: () => void;

  constructor(private readonly options: XdsServerOptions) {
    this.view = new RegistryView(asDirectory(options.registryPrefix));
    this.firstSync = new Promise((resolve) => (this.markSynced = resolve));
  }

  get clients(): number {
    return this.streams.size;
  }

  ready(): Promise<void> {
    return this.firstSync;
  }

  get serving(): boolean {
    return this.synced;
  }

  status(): XdsStatus {
    return { serving: this.synced, etcdDown: this.etcdDown, clients: this.streams.size, ...this.counts() };
  }

  /** Starts the etcd watch. */
  watch(): void {
    const { log } = this.options;
    this.watcher = watchService(this.options.etcd, this.view.directory, {
      backoff: this.options.backoff,
      onChange: (_endpoints, change) => {
        const touched = this.view.apply(change);
        if (this.etcdDown) {
          this.etcdDown = false;
          log.info('xds: etcd answers again; serving what it holds', this.counts());
        }
        if (!this.synced) {
          this.synced = true;
          log.info('xds: first read of etcd done; serving', this.counts());
          this.markSynced();
          for (const stream of this.streams)
            for (const request of stream.waiting.splice(0)) this.handle(stream, request);
          return;
        }
        if (touched.size > 0) this.publish(touched);
      },
      onError: (err) => {
        // The watcher retries about every second: say it when etcd goes, then every 30 s.
        const now = Date.now();
        if (this.etcdDown && now - this.warnedAt < ETCD_DOWN_REPEAT_MS) return;
        this.etcdDown = true;
        this.warnedAt = now;
        log.warn(
          this.synced
            ? `xds: ${err.message}; serving the last state read (clients keep calling the endpoints they have)`
            : `xds: ${err.message}; answering no client before the first read of etcd`,
          this.counts(),
        );
      },
    });
  }

  /** The ADS handler: one call per client stream. */
  readonly stream = (call: grpc.ServerDuplexStream<DiscoveryRequest, Buffer>): void => {
    const stream: Stream = { state: new StreamState(), call, waiting: [], nonce: 0 };
    this.streams.add(stream);
    const done = () => {
      if (!this.streams.delete(stream)) return;
      const node = stream.state.node;
      this.options.log.info('xds: client disconnected', { node: node?.id, zone: node?.zone });
    };
    call.on('data', (request: DiscoveryRequest) => {
      if (!this.synced) stream.waiting.push(request);
      else this.handle(stream, request);
    });
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('error', done);
    call.on('cancelled', done);
  };

  close(): void {
    this.watcher?.close();
    for (const stream of this.streams) stream.call.end();
    this.streams.clear();
  }

  private handle(stream: Stream, request: DiscoveryRequest): void {
    const { log } = this.options;
    const known = stream.state.node !== undefined;
    const verdict = stream.state.receive(request);
    const node = stream.state.node!;
    if (!known) log.info('xds: client connected', { node: node.id, zone: node.zone ?? null });
    if (verdict.kind === 'ignored') {
      log.warn(`xds: client ${node.id}: ${verdict.reason}`);
      return;
    }
    if (verdict.kind === 'nack')
      log.warn(`xds: client ${node.id} rejected ${verdict.type} (nonce ${verdict.nonce}): ${verdict.message}`, {
        node: node.id,
        zone: node.zone ?? null,
      });
    this.respond(stream, verdict.type);
  }

  private publish(touched: ReadonlySet<string>): void {
    this.version++;
    // Encodings of services that are gone are never served again.
    for (const service of touched) if (this.view.generationOf(service) === undefined) this.encoded.delete(service);
    for (const stream of this.streams) {
      if (!stream.state.watchesAny(touched)) continue;
      for (const type of stream.state.types()) this.respond(stream, type);
    }
  }

  private respond(stream: Stream, type: TypeUrl): void {
    const plan = stream.state.plan(type, this.view);
    if (!plan) return;
    const zone = stream.state.node?.zone;
    const resources = plan.names.map((name) => this.encode(type, name, zone));
    stream.nonce++;
    try {
      stream.call.write(
        this.protos.encodeResponse({
          version_info: `${this.boot}.${this.version}`,
          resources,
          type_url: type,
          nonce: String(stream.nonce),
        }),
      );
    } catch (err) {
      this.options.log.warn(`xds: cannot write to client ${stream.state.node?.id}: ${errorMessage(err)}`);
    }
  }

  /** One resource, encoded once per content (and per client zone for assignments). */
  private encode(type: TypeUrl, service: string, zone: string | undefined): EncodedAny {
    const perZone = type === TypeUrl.ClusterLoadAssignment;
    const key = `${type}|${perZone ? (zone ?? '') : ''}`;
    const token = this.view.generationOf(service)!;
    const ofService = this.encoded.get(service) ?? this.encoded.set(service, new Map()).get(service)!;
    const cached = ofService.get(key);
    if (cached && (cached.token === token || !perZone)) return cached.any;
    const resource = resourceFor(type, service, this.view.endpointsOf(service), zone)!;
    const any = this.protos.encodeResource(type, resource);
    ofService.set(key, { token, any });
    return any;
  }

  private counts() {
    return { services: this.view.serviceNames().length, endpoints: this.view.size };
  }
}

/**
 * Starts the xDS server: binds the port, starts the etcd watch, and serves ADS (and
 * `grpc.health.v1.Health/Check`: SERVING once the first read of etcd is done) until closed.
 *
 * @example
 * const server = await startXdsServer({ etcd, registryPrefix: 'services', port: 18000, log: console });
 * await server.ready();
 */
export async function startXdsServer(options: XdsServerOptions): Promise<XdsServer> {
  const ads = new AdsServer(options);
  const server = new grpc.Server({
    // Finds clients that vanished without closing their stream.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  server.addService(adsService(loadEnvoyProtos()), { StreamAggregatedResources: ads.stream });
  server.addService(healthService, {
    Check: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, healthResponse(ads.serving)),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${options.host ?? '0.0.0.0'}:${options.port}`,
      options.credentials ?? grpc.ServerCredentials.createInsecure(),
      (err, bound) => (err ? reject(err) : resolve(bound)),
    ),
  );
  ads.watch();
  let closing: Promise<void> | undefined;
  return {
    port,
    ready: () => ads.ready(),
    get clients() {
      return ads.clients;
    },
    status: () => ads.status(),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        ads.close();
        server.forceShutdown();
        resolve();
      })),
  };
}
