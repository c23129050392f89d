import { describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../../lib/xds/protos';
import {
  clusterFor,
  listenerFor,
  loadAssignmentFor,
  regionOfZone,
  routeConfigurationFor,
  serviceEndpointOf,
  serviceOfKey,
  TypeUrl,
  type ServiceEndpoint,
} from '../../../lib/xds/resources';

const ep = (host: string, port: number, zone?: string): ServiceEndpoint => ({ host, port, ...(zone ? { zone } : {}) });

interface Group {
  locality: { region: string; zone: string };
  priority: number;
  load_balancing_weight: { value: number };
  lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[];
}
const groups = (resource: Record<string, unknown>) => resource.endpoints as Group[];
const summary = (resource: Record<string, unknown>) =>
  groups(resource).map((g) => ({
    zone: g.locality.zone,
    priority: g.priority,
    weight: g.load_balancing_weight.value,
    addrs: g.lb_endpoints.map(
      (e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`,
    ),
  }));

describe('regionOfZone', () => {
  it('reads the region from zone names, Local Zones and GovCloud included', () => {
    expect(regionOfZone('us-east-1a')).toBe('us-east-1');
    expect(regionOfZone('eu-central-2c')).toBe('eu-central-2');
    expect(regionOfZone('us-west-2-lax-1a')).toBe('us-west-2');
    expect(regionOfZone('us-gov-west-1b')).toBe('us-gov-west-1');
  });
  it('names no region for a zone ID or anything else', () => {
    expect(regionOfZone('use1-az1')).toBe('');
    expect(regionOfZone('local')).toBe('');
  });
});

describe('serviceOfKey and serviceEndpointOf', () => {
  it('take the service from the first segment under the directory', () => {
    expect(serviceOfKey('services/api/0123:8080', 'services/')).toBe('api');
    expect(serviceOfKey('services/api', 'services/')).toBeUndefined();
    expect(serviceOfKey('other/api/x', 'services/')).toBeUndefined();
  });
  it('take no service from a key nested deeper (another stage directory under this one is no service)', () => {
    // REGISTRY_PREFIX=services beside stage prod's services/prod/<service>/<task>:<port>.
    expect(serviceOfKey('services/prod/api/0123:8080', 'services/')).toBeUndefined();
    expect(serviceOfKey('services/api/', 'services/')).toBeUndefined();
  });
  it('split the address and read the zone from the metadata (IPv6 unbracketed)', () => {
    expect(serviceEndpointOf({ key: 'k', addr: '10.0.0.1:80', metadata: { availabilityZone: 'us-east-1a' } })).toEqual(
      ep('10.0.0.1', 80, 'us-east-1a'),
    );
    expect(serviceEndpointOf({ key: 'k', addr: '[fd00::1]:443' })).toEqual(ep('fd00::1', 443));
    expect(serviceEndpointOf({ key: 'k', addr: '10.0.0.1:80', metadata: { availabilityZone: 7 } })).toEqual(
      ep('10.0.0.1', 80),
    );
  });
});

describe('loadAssignmentFor', () => {
  const endpoints = [
    ep('10.0.1.1', 80, 'us-east-1a'),
    ep('10.0.1.2', 80, 'us-east-1a'),
    ep('10.0.2.1', 80, 'us-east-1b'),
    ep('10.0.3.1', 80),
  ];

  it('puts the client zone at priority 0 and every other locality at 1, weighted by endpoint count', () => {
    expect(summary(loadAssignmentFor('api', endpoints, 'us-east-1a'))).toEqual([
      { zone: '', priority: 1, weight: 1, addrs: ['10.0.3.1:80'] },
      { zone: 'us-east-1a', priority: 0, weight: 2, addrs: ['10.0.1.1:80', '10.0.1.2:80'] },
      { zone: 'us-east-1b', priority: 1, weight: 1, addrs: ['10.0.2.1:80'] },
    ]);
  });

  it('puts everything at priority 0 when the client zone has no endpoints (no gap at 0)', () => {
    expect(summary(loadAssignmentFor('api', endpoints, 'us-east-1c')).map((g) => g.priority)).toEqual([0, 0, 0]);
  });

  it('puts everything at priority 0 for a client without a zone (none or empty)', () => {
    expect(summary(loadAssignmentFor('api', endpoints)).map((g) => g.priority)).toEqual([0, 0, 0]);
    expect(summary(loadAssignmentFor('api', endpoints, '')).map((g) => g.priority)).toEqual([0, 0, 0]);
  });

  it('lists one ip:port once, in the locality of its first occurrence', () => {
    const dup = [ep('10.0.1.1', 80, 'us-east-1a'), ep('10.0.1.1', 80, 'us-east-1b'), ep('10.0.1.1', 81, 'us-east-1a')];
    expect(summary(loadAssignmentFor('api', dup))).toEqual([
      { zone: 'us-east-1a', priority: 0, weight: 2, addrs: ['10.0.1.1:80', '10.0.1.1:81'] },
    ]);
  });

  it('is named after the service and has no locality when the service has no endpoints', () => {
    expect(loadAssignmentFor('api', [])).toEqual({ cluster_name: 'api', endpoints: [] });
  });
});

describe('the resources, encoded with the Envoy protos', () => {
  const protos = loadEnvoyProtos();
  const roundTrip = (type: TypeUrl, resource: Record<string, unknown>) =>
    protos.decodeResource(protos.encodeResource(type, resource));

  it('encode an API listener that reads routes over ADS and ends with the router filter', () => {
    const listener = roundTrip(TypeUrl.Listener, listenerFor('api')) as any;
    expect(listener.name).toBe('api');
    const hcm = listener.api_listener.api_listener;
    expect(hcm['@type']).toBe(
      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    );
    expect(hcm.rds).toEqual({ route_config_name: 'api', config_source: { ads: {}, resource_api_version: 'V3' } });
    expect(hcm.http_filters.at(-1).typed_config['@type']).toBe(
      'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
    );
  });

  it('encode a route to the cluster, an EDS cluster over ADS, and an assignment with weights and priorities', () => {
    expect(
      (roundTrip(TypeUrl.RouteConfiguration, routeConfigurationFor('api')) as any).virtual_hosts[0].routes,
    ).toEqual([{ match: { prefix: '' }, route: { cluster: 'api' } }]);
    expect(roundTrip(TypeUrl.Cluster, clusterFor('api'))).toMatchObject({
      name: 'api',
      type: 'EDS',
      eds_cluster_config: { service_name: 'api', eds_config: { ads: {}, resource_api_version: 'V3' } },
    });
    const cla = roundTrip(
      TypeUrl.ClusterLoadAssignment,
      loadAssignmentFor('api', [ep('10.0.1.1', 80, 'us-east-1a'), ep('10.0.2.1', 80, 'us-east-1b')], 'us-east-1b'),
    );
    expect(summary(cla)).toEqual([
      { zone: 'us-east-1a', priority: 1, weight: 1, addrs: ['10.0.1.1:80'] },
      { zone: 'us-east-1b', priority: 0, weight: 1, addrs: ['10.0.2.1:80'] },
    ]);
  });
});
