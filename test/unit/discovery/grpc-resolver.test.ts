import { describe, expect, it } from 'vitest';
import { roundRobin, targetDirectory } from '../../../lib/discovery/grpc-resolver';

describe('targetDirectory', () => {
  it('watches the target path as a directory, with or without its trailing slash', () => {
    expect(targetDirectory({ scheme: 'etcd', authority: '', path: 'services/api' })).toBe('services/api/');
    expect(targetDirectory({ scheme: 'etcd', authority: '', path: 'services/api/' })).toBe('services/api/');
    expect(targetDirectory({ scheme: 'etcd', path: 'api' })).toBe('api/');
  });
  it('rejects a target without a path', () => {
    expect(() => targetDirectory({ scheme: 'etcd', authority: '', path: '/' })).toThrow(/names no service directory/);
  });
});

describe('roundRobin', () => {
  it('is a service config choosing round_robin', () => {
    expect(JSON.parse(roundRobin['grpc.service_config'])).toEqual({ loadBalancingConfig: [{ round_robin: {} }] });
  });
});
