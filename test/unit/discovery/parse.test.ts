import { describe, expect, it } from 'vitest';
import { parseEndpoint } from '../../../lib/discovery/parse';
import { endpointValue, type Endpoint } from '../../../lib/keys';

const endpoint: Endpoint = { service: 'api', container: 'app', containerPort: 50051, ip: '10.0.0.139', port: 50051 };
const metadata = {
  taskArn: 'arn:aws:ecs:us-west-2:1:task/c/abc',
  cluster: 'c',
  taskDefinition: 'td:1',
  container: 'app',
  version: 4,
};

describe('parseEndpoint', () => {
  it('reads every value format the registrar writes', () => {
    expect(parseEndpoint('services/api/abc:50051', endpointValue('etcd-naming', endpoint, metadata))).toEqual({
      key: 'services/api/abc:50051',
      addr: '10.0.0.139:50051',
      metadata,
    });
    expect(parseEndpoint('services/api/abc:50051', endpointValue('addr', endpoint, metadata))).toEqual({
      key: 'services/api/abc:50051',
      addr: '10.0.0.139:50051',
    });
    expect(parseEndpoint('services/api/abc:50051', endpointValue('json', endpoint, metadata))).toEqual({
      key: 'services/api/abc:50051',
      addr: '10.0.0.139:50051',
    });
  });
  it('ignores an etcd-naming delete operation', () =>
    expect(parseEndpoint('k', JSON.stringify({ Op: 1, Addr: '10.0.0.1:1' }))).toBeUndefined());
  it('falls back to the address in the key (KEY_FORMAT=addr)', () =>
    expect(parseEndpoint('services/api/10.0.0.7:8080', 'opaque')?.addr).toBe('10.0.0.7:8080'));
  it.each(['', 'not json {', '{"Addr":"nope"}', '{"Other":1}'])('returns undefined for %j', (value) =>
    expect(parseEndpoint('services/api/abc:1', value)).toBeUndefined(),
  );
});

describe('parseEndpoint: addresses', () => {
  it.each(['10.0.0.999:50051', '10.0.0.1:0', '10.0.0.1:99999', 'bad host:1', '[zz::1]:1'])('refuses %j', (addr) =>
    expect(parseEndpoint('services/api/x', addr)).toBeUndefined(),
  );
  it.each(['10.0.0.1:50051', 'api.internal:8080', '[fd00::1]:50051'])('accepts %j', (addr) =>
    expect(parseEndpoint('services/api/x', addr)?.addr).toBe(addr),
  );
  it('never takes a task id in the key for a host name', () =>
    expect(parseEndpoint('services/api/0000beef0000beef:50051', 'opaque')).toBeUndefined());
});
