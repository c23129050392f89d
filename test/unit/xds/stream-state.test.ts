import { describe, expect, it } from 'vitest';
import type { DiscoveredEndpoint } from '../../../lib/discovery/parse';
import type { DiscoveryRequest } from '../../../lib/xds/protos';
import { RegistryView } from '../../../lib/xds/registry-view';
import { TypeUrl } from '../../../lib/xds/resources';
import { StreamState } from '../../../lib/xds/stream-state';

const endpoint = (service: string, id: string, addr: string, zone?: string): DiscoveredEndpoint => ({
  key: `services/${service}/${id}`,
  addr,
  ...(zone ? { metadata: { availabilityZone: zone } } : {}),
});

const request = (type: string, names: string[], extra: Partial<DiscoveryRequest> = {}): DiscoveryRequest => ({
  version_info: '',
  resource_names: names,
  type_url: type,
  response_nonce: '',
  ...extra,
});

function viewWith(...endpoints: DiscoveredEndpoint[]): RegistryView {
  const view = new RegistryView('services/');
  view.apply({ added: endpoints, removed: [] });
  return view;
}

describe('RegistryView', () => {
  it('groups endpoints by service and says which services a change touched', () => {
    const view = viewWith(endpoint('api', 'a:1', '10.0.0.1:1'), endpoint('web', 'b:1', '10.0.0.2:1'));
    expect(view.serviceNames()).toEqual(['api', 'web']);
    const before = view.generationOf('web');
    const touched = view.apply({ added: [endpoint('api', 'c:1', '10.0.0.3:1')], removed: [] });
    expect([...touched]).toEqual(['api']);
    expect(view.generationOf('web')).toBe(before);
    expect(view.endpointsOf('api')?.map((e) => e.host)).toEqual(['10.0.0.1', '10.0.0.3']);
  });

  it('forgets a service whose last endpoint went', () => {
    const gone = endpoint('api', 'a:1', '10.0.0.1:1');
    const view = viewWith(gone);
    expect([...view.apply({ added: [], removed: [gone] })]).toEqual(['api']);
    expect(view.endpointsOf('api')).toBeUndefined();
    expect(view.generationOf('api')).toBeUndefined();
    expect(view.size).toBe(0);
  });
});

describe('StreamState', () => {
  it('takes the node from the first request only, with or without a zone', () => {
    const zoned = new StreamState();
    zoned.receive(request(TypeUrl.Listener, ['api'], { node: { id: 'n1', locality: { zone: 'us-east-1a' } } }));
    zoned.receive(request(TypeUrl.Listener, ['api'], { node: { id: 'other', locality: { zone: 'x' } } }));
    expect(zoned.node).toEqual({ id: 'n1', zone: 'us-east-1a' });
    const plain = new StreamState();
    plain.receive(request(TypeUrl.Listener, ['api'], { node: { id: 'n2', locality: { zone: '' } } }));
    expect(plain.node).toEqual({ id: 'n2' });
  });

  it('answers a first request at once, even when nothing it names exists (so the client learns it)', () => {
    const stream = new StreamState();
    stream.receive(request(TypeUrl.Listener, ['nope']));
    expect(stream.plan(TypeUrl.Listener, viewWith())).toEqual({ type: TypeUrl.Listener, names: [] });
  });

  it('sends nothing for an ACK, and only a changed assignment after a change', () => {
    const view = viewWith(endpoint('api', 'a:1', '10.0.0.1:1'), endpoint('web', 'b:1', '10.0.0.2:1'));
    const stream = new StreamState();
    for (const type of [TypeUrl.Listener, TypeUrl.ClusterLoadAssignment]) {
      stream.receive(request(type, ['api', 'web']));
      expect(stream.plan(type, view)?.names).toEqual(['api', 'web']);
      stream.receive(request(type, ['api', 'web'], { version_info: '1', response_nonce: '1' }));
      expect(stream.plan(type, view)).toBeUndefined();
    }
    view.apply({ added: [endpoint('web', 'c:1', '10.0.0.3:1')], removed: [] });
    expect(stream.watchesAny(new Set(['web']))).toBe(true);
    expect(stream.plan(TypeUrl.Listener, view)).toBeUndefined();
    expect(stream.plan(TypeUrl.ClusterLoadAssignment, view)).toEqual({
      type: TypeUrl.ClusterLoadAssignment,
      names: ['web'],
    });
  });

  it('lists every existing subscribed Listener when one of them goes (leaving it out deletes it)', () => {
    const web = endpoint('web', 'b:1', '10.0.0.2:1');
    const view = viewWith(endpoint('api', 'a:1', '10.0.0.1:1'), web);
    const stream = new StreamState();
    stream.receive(request(TypeUrl.Cluster, ['api', 'web']));
    stream.plan(TypeUrl.Cluster, view);
    view.apply({ added: [], removed: [web] });
    expect(stream.plan(TypeUrl.Cluster, view)).toEqual({ type: TypeUrl.Cluster, names: ['api'] });
  });

  it('answers a newly subscribed name, and only that one for assignments', () => {
    const view = viewWith(endpoint('api', 'a:1', '10.0.0.1:1'), endpoint('web', 'b:1', '10.0.0.2:1'));
    const stream = new StreamState();
    stream.receive(request(TypeUrl.ClusterLoadAssignment, ['api']));
    stream.plan(TypeUrl.ClusterLoadAssignment, view);
    stream.receive(request(TypeUrl.ClusterLoadAssignment, ['api', 'web'], { response_nonce: '1' }));
    expect(stream.plan(TypeUrl.ClusterLoadAssignment, view)?.names).toEqual(['web']);
  });

  it('reads a NACK with the client error, and does not send the rejected state again', () => {
    const view = viewWith(endpoint('api', 'a:1', '10.0.0.1:1'));
    const stream = new StreamState();
    stream.receive(request(TypeUrl.ClusterLoadAssignment, ['api']));
    stream.plan(TypeUrl.ClusterLoadAssignment, view);
    const verdict = stream.receive(
      request(TypeUrl.ClusterLoadAssignment, ['api'], {
        response_nonce: '1',
        error_detail: { code: 3, message: 'duplicate endpoint' },
      }),
    );
    expect(verdict).toEqual({
      kind: 'nack',
      type: TypeUrl.ClusterLoadAssignment,
      nonce: '1',
      message: 'duplicate endpoint',
    });
    expect(stream.plan(TypeUrl.ClusterLoadAssignment, view)).toBeUndefined();
  });

  it('ignores types it does not serve', () => {
    expect(new StreamState().receive(request('type.googleapis.com/envoy.Other', ['x']))).toMatchObject({
      kind: 'ignored',
    });
  });
});
