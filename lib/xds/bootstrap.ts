/**
 * Pure: the bootstrap file a proxyless gRPC client reads (`GRPC_XDS_BOOTSTRAP=<file>`) to find this
 * xDS server, with the client's own zone for zone-aware load balancing (gRFC A27).
 */
import { regionOfZone } from './resources';

/** Options of {@link clientBootstrap}. */
export interface ClientBootstrapOptions {
  /** The xDS server's `host:port` (e.g. the internal load balancer's DNS name and port). */
  readonly server: string;
  /** The client's Availability Zone (e.g. `us-east-1a`); omit to spread calls over every zone. */
  readonly zone?: string;
  /** The client's node id, shown in the server's log. @default "ecs-etcd-registrar-client" */
  readonly nodeId?: string;
  /**
   * Connect to the server with TLS (the `tls` channel credentials of gRFC A65; clients that do not
   * know it, such as grpc-js-xds and gRPC C-core before 1.60, need `insecure`). @default false
   */
  readonly tls?: boolean;
}

/**
 * The bootstrap JSON for one client.
 *
 * @example
 * writeFileSync('/etc/grpc/xds-bootstrap.json', JSON.stringify(clientBootstrap({ server: 'xds.internal:18000', zone: 'us-east-1a' })));
 */
export function clientBootstrap(options: ClientBootstrapOptions): Record<string, unknown> {
  if (!/^[^\s/]+:\d{1,5}$/.test(options.server))
    throw new Error(`xDS server "${options.server}" is not host:port (e.g. xds.internal:18000)`);
  const zone = options.zone?.trim();
  return {
    xds_servers: [
      {
        server_uri: options.server,
        channel_creds: [{ type: options.tls ? 'tls' : 'insecure' }],
        server_features: ['xds_v3'],
      },
    ],
    node: {
      id: options.nodeId ?? 'ecs-etcd-registrar-client',
      locality: zone ? { region: regionOfZone(zone), zone } : {},
    },
  };
}
