import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { ConfigError } from '../../lib/errors';

const base = { ETCD_ENDPOINTS: 'http://127.0.0.1:2379' };

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig(base)).toEqual({
      etcdEndpoints: ['http://127.0.0.1:2379'],
      registryPrefix: 'services',
      statePrefix: 'registrar',
      leaseTtlSeconds: 180,
      tombstoneTtlSeconds: 86400,
      valueFormat: 'etcd-naming',
      keyFormat: 'task',
      clusters: [],
      etcdTimeoutMs: 5000,
      renewConcurrency: 64,
      ecsMaxReadsPerSecond: 10,
      dryRun: false,
      allowLoopbackEndpoints: false,
      etcdCredentials: { kind: 'none' },
    });
  });

  it('splits comma-separated endpoints and clusters', () => {
    const config = loadConfig({ ...base, ETCD_ENDPOINTS: 'http://10.0.0.1:2379, https://10.0.0.2:2379', CLUSTERS: 'prod, arn:aws:ecs:us-east-1:123456789012:cluster/batch' });
    expect(config.etcdEndpoints).toEqual(['http://10.0.0.1:2379', 'https://10.0.0.2:2379']);
    expect(config.clusters).toEqual(['prod', 'arn:aws:ecs:us-east-1:123456789012:cluster/batch']);
  });

  it('reads DRY_RUN as a boolean', () => {
    expect(loadConfig({ ...base, DRY_RUN: 'true' }).dryRun).toBe(true);
    expect(loadConfig({ ...base, DRY_RUN: 'FALSE' }).dryRun).toBe(false);
  });

  it('reads where etcd credentials come from, never the password itself', () => {
    expect(loadConfig({ ...base, ETCD_SECRET_ID: 'prod/etcd' }).etcdCredentials).toEqual({ kind: 'secrets-manager', secretId: 'prod/etcd' });
    expect(loadConfig({ ...base, ETCD_SSM_PARAMETER: '/prod/etcd' }).etcdCredentials).toEqual({ kind: 'ssm', parameter: '/prod/etcd' });
    const local = loadConfig({ ...base, ETCD_USERNAME: 'registrar', ETCD_PASSWORD: 'secret-pw', ETCD_CA_FILE: '/ca.pem' });
    expect(local.etcdCredentials).toEqual({ kind: 'env', username: 'registrar', caFile: '/ca.pem', certFile: undefined, keyFile: undefined });
    expect(JSON.stringify(local)).not.toContain('secret-pw');
  });

  it('accepts an empty registry prefix and an OpenIM-style scheme prefix', () => {
    expect(loadConfig({ ...base, REGISTRY_PREFIX: '' }).registryPrefix).toBe('');
    expect(loadConfig({ ...base, REGISTRY_PREFIX: 'sk://' }).registryPrefix).toBe('sk://');
  });

  it.each([
    [{ ETCD_ENDPOINTS: '' }, 'ETCD_ENDPOINTS'],
    [{ ETCD_ENDPOINTS: '127.0.0.1:2379' }, 'ETCD_ENDPOINTS'],
    [{ ETCD_ENDPOINTS: 'ftp://127.0.0.1:2379' }, 'ETCD_ENDPOINTS'],
    [{ ETCD_ENDPOINTS: 'http://127.0.0.1' }, 'ETCD_ENDPOINTS'],
    [{ ...base, LEASE_TTL_SECONDS: 'ten' }, 'LEASE_TTL_SECONDS'],
    [{ ...base, LEASE_TTL_SECONDS: '5' }, 'LEASE_TTL_SECONDS'],
    [{ ...base, LEASE_TTL_SECONDS: '-180' }, 'LEASE_TTL_SECONDS'],
    [{ ...base, VALUE_FORMAT: 'xml' }, 'VALUE_FORMAT'],
    [{ ...base, ECS_MAX_READS_PER_SECOND: '0' }, 'ECS_MAX_READS_PER_SECOND'],
    [{ ...base, ECS_MAX_READS_PER_SECOND: '2.5' }, 'ECS_MAX_READS_PER_SECOND'],
    [{ ...base, KEY_FORMAT: 'ip' }, 'KEY_FORMAT'],
    [{ ...base, STATE_PREFIX: '' }, 'STATE_PREFIX'],
    [{ ...base, STATE_PREFIX: 'services/registrar' }, 'STATE_PREFIX'],
    [{ ...base, REGISTRY_PREFIX: 'registrar/services' }, 'REGISTRY_PREFIX'],
    [{ ...base, REGISTRY_PREFIX: 'a/../b' }, 'REGISTRY_PREFIX'],
    [{ ...base, REGISTRY_PREFIX: 'svc\u0000' }, 'REGISTRY_PREFIX'],
    [{ ...base, CLUSTERS: 'prod,bad cluster' }, 'CLUSTERS'],
    [{ ...base, ETCD_TIMEOUT_MS: '0' }, 'ETCD_TIMEOUT_MS'],
    [{ ...base, DRY_RUN: 'yes' }, 'DRY_RUN'],
    [{ ...base, ETCD_SECRET_ID: 'a', ETCD_SSM_PARAMETER: '/b' }, 'ETCD_SSM_PARAMETER'],
    [{ ...base, ETCD_SECRET_ID: 'a', ETCD_PASSWORD: 'p' }, 'ETCD_PASSWORD'],
    [{ ...base, ETCD_SECRET_ID: 'bad secret id' }, 'ETCD_SECRET_ID'],
    [{ ...base, ETCD_PASSWORD: 'p' }, 'ETCD_USERNAME'],
    [{ ...base, ETCD_CERT_FILE: '/c.pem' }, 'ETCD_KEY_FILE'],
  ])('rejects %j naming %s', (env, variable) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as Error).message).toMatch(new RegExp(`^${variable}: `));
  });
});
