/**
 * Pure: the xDS v3 resources a proxyless gRPC client needs for `xds:///<service>`, built from the
 * endpoints the registry publishes. Every service gets a Listener (an API listener whose HTTP
 * connection manager reads its routes over RDS and ends with the router filter, as gRPC C-core
 * requires), a RouteConfiguration sending everything to one Cluster, a Cluster of type EDS and a
 * ClusterLoadAssignment. All four are named after the service.
 *
 * The assignment is the only resource that depends on the client: its own zone (bootstrap
 * `node.locality.zone`) is priority 0 and every other zone priority 1, unless its zone has no
 * endpoints, in which case everything is priority 0 (priorities must start at 0 and have no gaps,
 * or clients reject the update). A client without a zone gets every locality at priority 0.
 *
 * Resources are plain objects in the protobuf field names (snake_case); a `google.protobuf.Any` is
 * `{ '@type': <type URL>, ...fields }`. `lib/xds/protos.ts` encodes them.
 */
import type { DiscoveredEndpoint } from '../discovery/parse';

/** The type URLs of the four resource types gRPC's xDS clients subscribe to. */
export const TypeUrl = {
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
} as const;
export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/** A resource as protobufjs `fromObject` takes it. */
export type Resource = Readonly<Record<string, unknown>> & { readonly name?: string; readonly cluster_name?: string };

/** A locality, as Envoy's `core.v3.Locality`: both empty for endpoints whose zone is unknown. */
export interface Locality {
  readonly region: string;
  readonly zone: string;
}

/** One dialable address of a service, with the zone its task runs in (when the registrar wrote one). */
export interface ServiceEndpoint {
  readonly host: string;
  readonly port: number;
  /** The task's Availability Zone, e.g. `us-east-1a`. */
  readonly zone?: string;
}

/**
 * The region of an Availability Zone name: `us-east-1a` → `us-east-1`, a Local Zone
 * `us-west-2-lax-1a` → `us-west-2`. Empty when the name is not of that shape (a zone ID such as
 * `use1-az1` names no region).
 */
export function regionOfZone(zone: string): string {
  return /^([a-z]{2}(?:-gov)?-[a-z]+-\d+)/.exec(zone)?.[1] ?? '';
}

/** The locality of a zone (both fields empty when the zone is unknown). */
export function localityOf(zone: string | undefined): Locality {
  return zone ? { region: regionOfZone(zone), zone } : { region: '', zone: '' };
}

/**
 * The endpoint of one discovered key: its address split into host and port, its zone from the
 * etcd-naming metadata's `availabilityZone` (other value formats carry no zone).
 */
export function serviceEndpointOf(endpoint: DiscoveredEndpoint): ServiceEndpoint {
  const colon = endpoint.addr.lastIndexOf(':');
  const host = endpoint.addr.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const zone = endpoint.metadata?.availabilityZone;
  return {
    host,
    port: Number(endpoint.addr.slice(colon + 1)),
    ...(typeof zone === 'string' && zone !== '' ? { zone } : {}),
  };
}

/**
 * The service an endpoint key belongs to: the segment between the registry directory and the key's
 * last segment (`services/api/<task>:8080` → `api`), as the registrar writes them; `undefined` for a
 * key directly in the directory or nested deeper (another directory under this one, such as
 * another stage's `services/prod/api/...` under `services/`, is no service).
 */
export function serviceOfKey(key: string, directory: string): string | undefined {
  if (!key.startsWith(directory)) return undefined;
  const rest = key.slice(directory.length);
  const slash = rest.indexOf('/');
  return slash > 0 && slash < rest.length - 1 && !rest.includes('/', slash + 1) ? rest.slice(0, slash) : undefined;
}

/** The API listener for `xds:///<service>`: routes over RDS (ADS), the router filter last. */
export function listenerFor(service: string): Resource {
  return {
    name: service,
    api_listener: {
      api_listener: {
        '@type': HCM,
        stat_prefix: service,
        rds: { route_config_name: service, config_source: { ads: {}, resource_api_version: 'V3' } },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
      },
    },
  };
}

/** Every call of the service goes to its one cluster. */
export function routeConfigurationFor(service: string): Resource {
  return {
    name: service,
    virtual_hosts: [
      { name: service, domains: ['*'], routes: [{ match: { prefix: '' }, route: { cluster: service } }] },
    ],
  };
}

/** An EDS cluster whose assignment comes over ADS, round robin inside each locality. */
export function clusterFor(service: string): Resource {
  return {
    name: service,
    type: 'EDS',
    eds_cluster_config: { service_name: service, eds_config: { ads: {}, resource_api_version: 'V3' } },
    lb_policy: 'ROUND_ROBIN',
  };
}

const localityKey = (l: Locality) => `${l.region}/${l.zone}`;

/**
 * The ClusterLoadAssignment of `service` for a client in `clientZone` (or none): one locality per
 * zone, weighted by its number of endpoints (so calls spread evenly over the endpoints, and a
 * locality without a weight is never left uncalled), the client's zone at priority 0 and the rest
 * at 1 while its zone has endpoints. The same `host:port` is listed once (bridge-mode host ports
 * can repeat across keys; grpc-js-xds rejects duplicates), in the locality of its first key.
 */
export function loadAssignmentFor(
  service: string,
  endpoints: readonly ServiceEndpoint[],
  clientZone?: string,
): Resource {
  const seen = new Set<string>();
  const byLocality = new Map<string, { locality: Locality; endpoints: ServiceEndpoint[] }>();
  for (const endpoint of endpoints) {
    const addr = `${endpoint.host}:${endpoint.port}`;
    if (seen.has(addr)) continue;
    seen.add(addr);
    const locality = localityOf(endpoint.zone);
    const key = localityKey(locality);
    const group = byLocality.get(key) ?? byLocality.set(key, { locality, endpoints: [] }).get(key)!;
    group.endpoints.push(endpoint);
  }
  const groups = [...byLocality.values()].sort((a, b) =>
    localityKey(a.locality).localeCompare(localityKey(b.locality)),
  );
  const ownZoneServes =
    clientZone !== undefined && clientZone !== '' && groups.some((g) => g.locality.zone === clientZone);
  return {
    cluster_name: service,
    endpoints: groups.map((group) => ({
      locality: group.locality,
      load_balancing_weight: { value: group.endpoints.length },
      priority: ownZoneServes && group.locality.zone !== clientZone ? 1 : 0,
      lb_endpoints: group.endpoints.map((e) => ({
        endpoint: { address: { socket_address: { address: e.host, port_value: e.port } } },
        health_status: 'HEALTHY',
        load_balancing_weight: { value: 1 },
      })),
    })),
  };
}

/**
 * The resource of one type and name for a client, or `undefined` when the registry has no such
 * service (for a Listener or Cluster, leaving it out of a response tells the client it is gone).
 */
export function resourceFor(
  type: TypeUrl,
  service: string,
  endpoints: readonly ServiceEndpoint[] | undefined,
  clientZone?: string,
): Resource | undefined {
  if (!endpoints) return undefined;
  switch (type) {
    case TypeUrl.Listener:
      return listenerFor(service);
    case TypeUrl.RouteConfiguration:
      return routeConfigurationFor(service);
    case TypeUrl.Cluster:
      return clusterFor(service);
    case TypeUrl.ClusterLoadAssignment:
      return loadAssignmentFor(service, endpoints, clientZone);
  }
}

/** Whether a type URL is one this server serves. */
export function isServedType(type: string): type is TypeUrl {
  return (Object.values(TypeUrl) as string[]).includes(type);
}

/**
 * Whether the type's state-of-the-world responses must list every subscribed resource (a
 * resource left out is deleted): Listener and Cluster. RouteConfiguration and
 * ClusterLoadAssignment responses may carry only the resources that changed.
 */
export function isFullStateType(type: TypeUrl): boolean {
  return type === TypeUrl.Listener || type === TypeUrl.Cluster;
}
