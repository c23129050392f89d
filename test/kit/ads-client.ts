/**
 * A raw ADS client (grpc-js and the Envoy protos, no xDS client library): subscribes to the four
 * resource types for a list of services the way gRPC's xDS clients do (Listener first, then the
 * RouteConfiguration, Cluster and ClusterLoadAssignment they name), ACKs — or NACKs, when told —
 * every response, and keeps the latest assignment per service. Hundreds fit in one process, which
 * the benchmark needs, and a test can make one reject what it gets.
 */
import * as grpc from '@grpc/grpc-js';
import { loadEnvoyProtos, type DiscoveryResponse } from '../../lib/xds/protos';
import { TypeUrl } from '../../lib/xds/resources';

const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

/** The addresses of one assignment, by zone. */
export type Assignment = Record<string, string[]>;

/** Options of {@link startAdsClient}. */
export interface AdsClientOptions {
  readonly server: string;
  readonly services: readonly string[];
  readonly nodeId: string;
  readonly zone?: string;
  /** Rejects every ClusterLoadAssignment response with this message. */
  readonly nackAssignments?: string;
  /** Called with every assignment received (`performance.now()` at arrival). */
  readonly onAssignment?: (service: string, assignment: Assignment, at: number) => void;
}

/** A connected raw ADS client. */
export interface AdsClient {
  /** The latest assignment per service. */
  readonly assignments: ReadonlyMap<string, Assignment>;
  /** Resolves once every service's assignment arrived (all four types answered). */
  readonly complete: Promise<number>;
  close(): void;
}

/** One channel per client, as a real client has. */
export function startAdsClient(options: AdsClientOptions): AdsClient {
  const protos = loadEnvoyProtos();
  const client = new grpc.Client(options.server, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(
    ADS_PATH,
    (b: Buffer) => b,
    (b: Buffer) => protos.decodeResponse(b),
  );
  const assignments = new Map<string, Assignment>();
  const names = [...options.services];
  const node = { id: options.nodeId, locality: options.zone ? { zone: options.zone } : {} };
  let first = true;
  const send = (type: string, version = '', nonce = '', error?: string) => {
    call.write(
      protos.encodeRequest({
        type_url: type,
        resource_names: names,
        version_info: version,
        response_nonce: nonce,
        ...(first ? { node } : {}),
        ...(error ? { error_detail: { code: 3, message: error } } : {}),
      }),
    );
    first = false;
  };
  let settle!: (at: number) => void;
  const complete = new Promise<number>((resolve) => (settle = resolve));
  const asked = new Set<string>();
  call.on('data', (res: DiscoveryResponse) => {
    const at = performance.now();
    const nack = res.type_url === TypeUrl.ClusterLoadAssignment ? options.nackAssignments : undefined;
    send(res.type_url, nack ? '' : res.version_info, res.nonce, nack);
    // What a real client asks next: the listener names routes, routes name clusters, clusters name assignments.
    const next: Record<string, string> = {
      [TypeUrl.Listener]: TypeUrl.RouteConfiguration,
      [TypeUrl.RouteConfiguration]: TypeUrl.Cluster,
      [TypeUrl.Cluster]: TypeUrl.ClusterLoadAssignment,
    };
    const follow = next[res.type_url];
    if (follow && !asked.has(follow)) {
      asked.add(follow);
      send(follow);
    }
    if (res.type_url !== TypeUrl.ClusterLoadAssignment || nack) return;
    for (const any of res.resources) {
      const cla = protos.decodeResource(any) as any;
      const byZone: Assignment = {};
      for (const group of cla.endpoints ?? [])
        byZone[group.locality?.zone ?? ''] = (group.lb_endpoints ?? []).map(
          (e: any) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`,
        );
      assignments.set(cla.cluster_name, byZone);
      options.onAssignment?.(cla.cluster_name, byZone, at);
    }
    if (assignments.size === names.length) settle(at);
  });
  call.on('error', () => undefined);
  send(TypeUrl.Listener);
  return {
    assignments,
    complete,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}
