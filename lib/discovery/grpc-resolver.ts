/**
 * An etcd name resolver for `@grpc/grpc-js`: a channel created for `etcd:///services/<service>`
 * dials exactly the endpoints the registrar publishes under `services/<service>/`, and follows
 * every change as etcd reports it. Built on {@link watchService}.
 *
 * grpc-js resolvers hand results to the channel as values: the endpoint list (empty when the
 * service has none, so calls fail fast with UNAVAILABLE instead of waiting) or an error status
 * while etcd cannot be read (the channel keeps using the last list it had).
 */
import { experimental, status, type ChannelOptions } from '@grpc/grpc-js';
import { Etcd3, type IOptions } from 'etcd3';
import { discoveryClientOptions } from './client-options.js';
import { asDirectory, watchService, type BackoffOptions, type ServiceWatcher } from './watcher.js';

type GrpcUri = experimental.GrpcUri;
type Resolver = experimental.Resolver;
type ResolverListener = experimental.ResolverListener;

/** The URI scheme the resolver is registered under by default. */
export const ETCD_SCHEME = 'etcd';

/**
 * Channel options selecting round_robin: every call goes to the next ready endpoint. Without it
 * grpc-js uses pick_first and sends everything to one endpoint.
 */
export const roundRobin = {
  'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
} as const satisfies ChannelOptions;

/** Where the resolver reads etcd: a shared client you own, or connection options for one client per channel. */
export type EtcdSource = Etcd3 | IOptions;

/** Options of {@link registerEtcdResolver}. */
export interface EtcdResolverOptions {
  /** URI scheme to register. @default "etcd" */
  readonly scheme?: string;
  /** Retry timing of the watch after failures. */
  readonly backoff?: BackoffOptions;
}

/**
 * The etcd directory a target names: `etcd:///services/api` and `etcd:///services/api/` both watch
 * `services/api/` (the trailing slash is added, so `api` never picks up `api-admin`).
 */
export function targetDirectory(target: GrpcUri): string {
  const path = target.path.replace(/^\/+/, '');
  if (path === '' || path === '/')
    throw new Error(
      `etcd target "${target.scheme}://${target.authority ?? ''}/${target.path}" names no service directory`,
    );
  return asDirectory(path);
}

function toGrpcEndpoint(addr: string): experimental.Endpoint {
  const hostPort = experimental.splitHostPort(addr);
  if (!hostPort?.port) throw new Error(`endpoint address "${addr}" has no port`);
  return { addresses: [{ host: hostPort.host, port: hostPort.port }] };
}

/**
 * Registers the etcd resolver with grpc-js under `etcd:` (or `options.scheme`). Call once at
 * start-up, before creating channels. Targets are `etcd:///<registry prefix>/<service>`.
 *
 * @param etcd an `Etcd3` client shared by every channel (you close it; build it with
 *   {@link discoveryClientOptions} so it is back within about a second after an etcd outage), or
 *   etcd3 connection options, from which each channel opens its own client (with
 *   {@link discoveryClientOptions} applied) and closes it when the channel no longer needs it.
 * @example
 * import * as grpc from '@grpc/grpc-js';
 * import { registerEtcdResolver, roundRobin } from 'ecs-etcd-registrar/discovery';
 *
 * registerEtcdResolver({ hosts: 'http://10.0.1.5:2379' });
 * const client = new Greeter('etcd:///services/api', grpc.credentials.createInsecure(), roundRobin);
 */
export function registerEtcdResolver(etcd: EtcdSource, options: EtcdResolverOptions = {}): void {
  const shared = etcd instanceof Etcd3 ? etcd : undefined;
  const connect = () =>
    shared
      ? { client: shared, owned: false }
      : { client: new Etcd3(discoveryClientOptions(etcd as IOptions)), owned: true };

  class EtcdResolver implements Resolver {
    private readonly directory: string;
    private watcher?: ServiceWatcher;
    private owned?: Etcd3;

    constructor(
      target: GrpcUri,
      private readonly listener: ResolverListener,
      _channelOptions: ChannelOptions,
    ) {
      this.directory = targetDirectory(target);
    }

    /** Starts the watch if it is not running; a running watch pushes every change by itself. */
    updateResolution(): void {
      if (this.watcher) return;
      const { client, owned } = connect();
      if (owned) this.owned = client;
      this.watcher = watchService(client, this.directory, {
        backoff: options.backoff,
        onChange: (endpoints) => {
          const addresses = [...new Set(endpoints.map((e) => e.addr))];
          const note = addresses.length === 0 ? `etcd has no endpoints under ${this.directory}` : '';
          this.listener(experimental.statusOrFromValue(addresses.map(toGrpcEndpoint)), {}, null, note);
          // grpc-js's round_robin turns an empty list into IDLE, where calls wait for their
          // deadline. The empty list has dropped every endpoint; this status makes calls fail
          // fast with UNAVAILABLE until an endpoint appears (wait-for-ready calls still wait).
          if (addresses.length === 0)
            this.listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details: note }), {}, null, note);
        },
        onError: (err) => {
          // grpc-js keeps a list it already has and fails calls with this status only when it has none.
          this.listener(
            experimental.statusOrFromError({ code: status.UNAVAILABLE, details: err.message }),
            {},
            null,
            '',
          );
        },
      });
    }

    /** Ends the watch, its timers and, if the resolver opened it, its etcd client. */
    destroy(): void {
      this.watcher?.close();
      this.watcher = undefined;
      this.owned?.close();
      this.owned = undefined;
    }

    /** The service name (the target's last segment), sent as `:authority`. */
    static getDefaultAuthority(target: GrpcUri): string {
      return targetDirectory(target).split('/').filter(Boolean).pop()!;
    }
  }

  experimental.registerResolver(options.scheme ?? ETCD_SCHEME, EtcdResolver);
}
