import { describe, expect, it } from 'vitest';
import {
  assertSegment,
  endpointKey,
  endpointValue,
  recordKey,
  serviceDirectory,
  stateKeyParts,
  tombstoneKey,
  type Endpoint,
} from '../../lib/keys';

const endpoint: Endpoint = { service: 'api', container: 'app', containerPort: 50051, ip: '10.0.0.139', port: 50051 };
const metadata = {
  taskArn: 'arn:aws:ecs:us-west-2:1:task/c/abc',
  cluster: 'arn:aws:ecs:us-west-2:1:cluster/c',
  taskDefinition: 'td:1',
  container: 'app',
  version: 4,
};

describe('endpoint keys', () => {
  it('writes <prefix>/<service>/<task-id>:<port> by default', () =>
    expect(endpointKey({ registryPrefix: 'services', keyFormat: 'task' }, 'abc', endpoint)).toBe(
      'services/api/abc:50051',
    ));
  it('writes <prefix>/<service>/<ip>:<port> with KEY_FORMAT=addr', () =>
    expect(endpointKey({ registryPrefix: 'services', keyFormat: 'addr' }, 'abc', endpoint)).toBe(
      'services/api/10.0.0.139:50051',
    ));
  it('starts keys with the service name when the prefix is empty', () =>
    expect(endpointKey({ registryPrefix: '', keyFormat: 'addr' }, 'abc', endpoint)).toBe('api/10.0.0.139:50051'));
  it('gives OpenIM-style keys with the sk:// prefix', () =>
    expect(endpointKey({ registryPrefix: 'sk://', keyFormat: 'addr' }, 'abc', endpoint)).toBe(
      'sk:///api/10.0.0.139:50051',
    ));
  it('watches each service with a trailing slash, so api never matches api-admin', () => {
    expect(serviceDirectory('services', 'api')).toBe('services/api/');
    expect(
      endpointKey({ registryPrefix: 'services', keyFormat: 'task' }, 'abc', {
        ...endpoint,
        service: 'api-admin',
      }).startsWith(serviceDirectory('services', 'api')),
    ).toBe(false);
  });
  it('keeps state keys apart, each naming the whole cluster (account, region, name)', () => {
    const eu = 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod';
    const us = 'arn:aws:ecs:us-east-1:123456789012:cluster/prod';
    expect(recordKey('registrar', eu, 'abc')).toBe('registrar/tasks/123456789012.eu-west-1.prod/abc');
    expect(tombstoneKey('registrar', eu, 'abc')).toBe('registrar/tombstones/123456789012.eu-west-1.prod/abc');
    expect(recordKey('registrar', us, 'abc')).not.toBe(recordKey('registrar', eu, 'abc'));
    expect(stateKeyParts(recordKey('registrar', eu, 'abc'))).toEqual({
      clusterSegment: '123456789012.eu-west-1.prod',
      clusterName: 'prod',
      taskId: 'abc',
      legacy: false,
    });
    expect(stateKeyParts('registrar/tasks/prod/abc')).toMatchObject({ clusterName: 'prod', legacy: true });
  });
});

describe('endpoint values', () => {
  it('writes etcd-naming JSON with Metadata as a JSON string, never an object', () => {
    const value = JSON.parse(endpointValue('etcd-naming', endpoint, metadata));
    expect(value).toEqual({ Op: 0, Addr: '10.0.0.139:50051', Metadata: JSON.stringify(metadata) });
    expect(typeof value.Metadata).toBe('string');
  });
  it('writes the bare address', () => expect(endpointValue('addr', endpoint, metadata)).toBe('10.0.0.139:50051'));
  it('writes {Name, IP} JSON', () =>
    expect(JSON.parse(endpointValue('json', endpoint, metadata))).toEqual({ Name: 'api', IP: '10.0.0.139:50051' }));
});

describe('assertSegment', () => {
  it.each(['api', 'api-v2', 'Api_2', 'a.b', '0day'])('accepts %j', (s) => expect(assertSegment(s, 'x')).toBe(s));
  it.each(['', '-api', '.api', 'a/b', '..', 'a..b', 'api\u0000', 'ápi', 'a b', 'x'.repeat(256)])('rejects %j', (s) =>
    expect(() => assertSegment(s, 'label')).toThrow(/invalid event at label/),
  );
});
