import { describe, expect, it } from 'vitest';
import { loadConfig, loadXdsConfig, withRegistryPrefix } from '../../lib/config';
import { ConfigError } from '../../lib/errors';

const base = { ETCD_ENDPOINTS: 'http://127.0.0.1:2379' };

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig(base)).toEqual({
      etcdEndpoints: ['http://127.0.0.1:2379'],
      deployment: { stage: 'local', region: undefined, account: undefined },
      registryPrefix: 'services',
      registryPrefixExplicit: false,
      statePrefix: 'registrar/local/local/local',
      legacyStatePrefix: 'registrar',
      followQueueUrl: undefined,
      leaseTtlSeconds: 210,
      tombstoneTtlSeconds: 86400,
      eventConfirmAgeSeconds: 600,
      valueFormat: 'etcd-naming',
      keyFormat: 'task',
      clusters: [],
      etcdTimeoutMs: 5000,
      renewConcurrency: 64,
      orphanGraceSeconds: 30,
      ecsMaxReadsPerSecond: 10,
      dryRun: false,
      allowLoopbackEndpoints: false,
      endpointAddressFamily: 'ipv4',
      etcdCredentials: { kind: 'none' },
    });
  });

  it('splits comma-separated endpoints and clusters', () => {
    const config = loadConfig({
      ...base,
      ETCD_ENDPOINTS: 'http://10.0.0.1:2379, https://10.0.0.2:2379',
      CLUSTERS: 'prod, arn:aws:ecs:us-east-1:123456789012:cluster/batch',
    });
    expect(config.etcdEndpoints).toEqual(['http://10.0.0.1:2379', 'https://10.0.0.2:2379']);
    expect(config.clusters).toEqual(['prod', 'arn:aws:ecs:us-east-1:123456789012:cluster/batch']);
  });

  it('derives the state namespace from stage, region and account, and the service directory from the stage', () => {
    const config = loadConfig({ ...base, STAGE: 'prod', AWS_REGION: 'eu-west-1', ACCOUNT_ID: '123456789012' });
    expect(config.deployment).toEqual({ stage: 'prod', region: 'eu-west-1', account: '123456789012' });
    expect(config.statePrefix).toBe('registrar/prod/eu-west-1/123456789012');
    expect(config.registryPrefix).toBe('services/prod');
    expect(config.legacyStatePrefix).toBe('registrar');
    // serverless.yml passes an empty statePrefix param through: empty means derived.
    expect(loadConfig({ ...base, STAGE: 'dev', STATE_PREFIX: '' }).statePrefix).toBe('registrar/dev/local/local');
  });

  it('keeps an explicit STATE_PREFIX as the namespace and the place the previous layout is moved from', () => {
    const config = loadConfig({ ...base, STAGE: 'prod', STATE_PREFIX: 'ops/registrar', REGISTRY_PREFIX: 'services' });
    expect(config).toMatchObject({
      statePrefix: 'ops/registrar',
      legacyStatePrefix: 'ops/registrar',
      registryPrefix: 'services',
    });
  });

  it("names CLUSTERS' bare names as ARNs of the deployment's account and region", () => {
    const config = loadConfig({ ...base, AWS_REGION: 'cn-north-1', ACCOUNT_ID: '123456789012', CLUSTERS: 'prod' });
    expect(config.clusters).toEqual(['arn:aws-cn:ecs:cn-north-1:123456789012:cluster/prod']);
  });

  it('requires the whole identity on Lambda, not in a local invocation', () => {
    const lambda = { ...base, AWS_LAMBDA_FUNCTION_NAME: 'ecs-etcd-registrar-prod-renew', AWS_REGION: 'eu-west-1' };
    expect(() => loadConfig(lambda)).toThrow(/^ACCOUNT_ID: is required on Lambda/);
    expect(loadConfig({ ...lambda, ACCOUNT_ID: '123456789012' }).deployment.account).toBe('123456789012');
    expect(loadConfig({ ...lambda, IS_LOCAL: 'true' }).deployment.account).toBeUndefined();
  });

  it('reads DRY_RUN as a boolean', () => {
    expect(loadConfig({ ...base, DRY_RUN: 'true' }).dryRun).toBe(true);
    expect(loadConfig({ ...base, DRY_RUN: 'FALSE' }).dryRun).toBe(false);
  });

  it('reads where etcd credentials come from, never the password itself', () => {
    expect(loadConfig({ ...base, ETCD_SECRET_ID: 'prod/etcd' }).etcdCredentials).toEqual({
      kind: 'secrets-manager',
      secretId: 'prod/etcd',
    });
    expect(loadConfig({ ...base, ETCD_SSM_PARAMETER: '/prod/etcd' }).etcdCredentials).toEqual({
      kind: 'ssm',
      parameter: '/prod/etcd',
    });
    const local = loadConfig({
      ...base,
      ETCD_USERNAME: 'registrar',
      ETCD_PASSWORD: 'secret-pw',
      ETCD_CA_FILE: '/ca.pem',
    });
    expect(local.etcdCredentials).toEqual({
      kind: 'env',
      username: 'registrar',
      caFile: '/ca.pem',
      certFile: undefined,
      keyFile: undefined,
    });
    expect(JSON.stringify(local)).not.toContain('secret-pw');
  });

  it('accepts the root directory ("/") and an OpenIM-style scheme prefix', () => {
    expect(loadConfig({ ...base, REGISTRY_PREFIX: '/' })).toMatchObject({
      registryPrefix: '',
      registryPrefixExplicit: true,
    });
    expect(loadConfig({ ...base, REGISTRY_PREFIX: 'sk://' }).registryPrefix).toBe('sk://');
  });

  it('takes an empty REGISTRY_PREFIX as unset (serverless.yml passes its param through, "" by default)', () => {
    expect(loadConfig({ ...base, STAGE: 'prod', REGISTRY_PREFIX: '' })).toMatchObject({
      registryPrefix: 'services/prod',
      registryPrefixExplicit: false,
    });
    expect(loadConfig({ ...base, STAGE: 'prod', REGISTRY_PREFIX: 'services' })).toMatchObject({
      registryPrefix: 'services',
      registryPrefixExplicit: true,
    });
  });

  it('runs with an adopted directory only where it does not overlap the state namespace', () => {
    const config = loadConfig({ ...base, STAGE: 'prod' });
    expect(withRegistryPrefix(config, 'services')).toEqual({ ...config, registryPrefix: 'services' });
    expect(() => withRegistryPrefix(config, 'registrar')).toThrow(/^STATE_PREFIX: .*lies under REGISTRY_PREFIX/);
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
    [{ ...base, STAGE: 'prod/eu' }, 'STAGE'],
    [{ ...base, STAGE: 'tasks' }, 'STAGE'],
    [{ ...base, AWS_REGION: 'EU WEST' }, 'AWS_REGION'],
    [{ ...base, ACCOUNT_ID: '1234' }, 'ACCOUNT_ID'],
    [{ ...base, AWS_LAMBDA_FUNCTION_NAME: 'registrar-prod-renew', AWS_REGION: 'eu-west-1' }, 'ACCOUNT_ID'],
    [
      {
        ...base,
        AWS_REGION: 'eu-west-1',
        ACCOUNT_ID: '123456789012',
        CLUSTERS: 'arn:aws:ecs:us-east-1:123456789012:cluster/prod',
      },
      'CLUSTERS',
    ],
    [{ ...base, ENDPOINT_ADDRESS_FAMILY: 'ip6' }, 'ENDPOINT_ADDRESS_FAMILY'],
    [{ ...base, STATE_PREFIX: 'services/registrar' }, 'STATE_PREFIX'],
    [{ ...base, STATE_PREFIX: 'registrar', REGISTRY_PREFIX: 'registrar/services' }, 'REGISTRY_PREFIX'],
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

  it.each(['10', '60', '179'])(
    'rejects LEASE_TTL_SECONDS=%s: keys would not survive two missed renew ticks, and says the minimum',
    (ttl) => {
      expect(() => loadConfig({ ...base, LEASE_TTL_SECONDS: ttl })).toThrow(
        new ConfigError(
          'LEASE_TTL_SECONDS',
          `must be at least 180 (three 60 s renew ticks, so keys survive two missed ticks), got ${ttl}`,
        ),
      );
    },
  );

  it('accepts LEASE_TTL_SECONDS from three ticks up', () => {
    expect(loadConfig({ ...base, LEASE_TTL_SECONDS: '180' }).leaseTtlSeconds).toBe(180);
    expect(loadConfig({ ...base, LEASE_TTL_SECONDS: '3600' }).leaseTtlSeconds).toBe(3600);
  });

  it('keeps EVENT_CONFIRM_AGE_SECONDS within half the tombstone TTL, naming both', () => {
    expect(loadConfig({ ...base, EVENT_CONFIRM_AGE_SECONDS: '0' }).eventConfirmAgeSeconds).toBe(0);
    expect(loadConfig({ ...base, EVENT_CONFIRM_AGE_SECONDS: '43200' }).eventConfirmAgeSeconds).toBe(43200);
    expect(loadConfig({ ...base, TOMBSTONE_TTL_SECONDS: '600' }).eventConfirmAgeSeconds).toBe(300);
    expect(() => loadConfig({ ...base, EVENT_CONFIRM_AGE_SECONDS: '43201' })).toThrow(
      /^EVENT_CONFIRM_AGE_SECONDS: must be at most half of TOMBSTONE_TTL_SECONDS \(43200\)/,
    );
    expect(() => loadConfig({ ...base, EVENT_CONFIRM_AGE_SECONDS: 'soon' })).toThrow(/^EVENT_CONFIRM_AGE_SECONDS: /);
  });
});

describe('FOLLOW_QUEUE_URL', () => {
  it('is off unless set, and kept as given when it is an SQS queue URL', () => {
    expect(loadConfig(base).followQueueUrl).toBeUndefined();
    const url = 'https://sqs.us-east-1.amazonaws.com/123456789012/ecs-etcd-registrar-prod-follow';
    expect(loadConfig({ ...base, FOLLOW_QUEUE_URL: url }).followQueueUrl).toBe(url);
  });

  it.each([
    ['not a URL', 'ecs-etcd-registrar-prod-follow', 'is not a URL'],
    ['not a queue path', 'https://sqs.us-east-1.amazonaws.com/', 'is not an SQS queue URL'],
    ['another scheme', 'ftp://sqs.us-east-1.amazonaws.com/123456789012/q', 'is not an SQS queue URL'],
  ])('rejects %s, naming the variable', (_name, value, message) => {
    expect(() => loadConfig({ ...base, FOLLOW_QUEUE_URL: value })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, FOLLOW_QUEUE_URL: value })).toThrow(`FOLLOW_QUEUE_URL: "${value}" ${message}`);
  });
});

describe('loadXdsConfig', () => {
  it('defaults to port 18000 on every address, health on 18001, no TLS', () => {
    expect(loadXdsConfig({})).toEqual({ port: 18000, host: '0.0.0.0', healthPort: 18001 });
  });

  it('reads the port, the address, the health port and the TLS files', () => {
    expect(
      loadXdsConfig({
        XDS_PORT: '15010',
        XDS_HOST: '127.0.0.1',
        XDS_HEALTH_PORT: '0',
        XDS_TLS_CERT_FILE: '/tls/cert.pem',
        XDS_TLS_KEY_FILE: '/tls/key.pem',
        XDS_TLS_CLIENT_CA_FILE: '/tls/ca.pem',
      }),
    ).toEqual({
      port: 15010,
      host: '127.0.0.1',
      healthPort: 0,
      tls: { certFile: '/tls/cert.pem', keyFile: '/tls/key.pem', clientCaFile: '/tls/ca.pem' },
    });
  });

  it('names the variable of a bad port, half a key pair, or client CAs without TLS', () => {
    expect(() => loadXdsConfig({ XDS_PORT: '70000' })).toThrow(
      'XDS_PORT: expected a whole number from 0 to 65535, got 70000',
    );
    expect(() => loadXdsConfig({ XDS_TLS_CERT_FILE: '/c.pem' })).toThrow(
      'XDS_TLS_KEY_FILE: TLS needs both XDS_TLS_CERT_FILE and XDS_TLS_KEY_FILE',
    );
    expect(() => loadXdsConfig({ XDS_TLS_CLIENT_CA_FILE: '/ca.pem' })).toThrow(
      /^XDS_TLS_CLIENT_CA_FILE: client certificates need TLS/,
    );
  });

  it('refuses a health port equal to the xDS port (the second listener could not bind), naming XDS_HEALTH_PORT', () => {
    expect(() => loadXdsConfig({ XDS_PORT: '18001' })).toThrow(/^XDS_HEALTH_PORT: is 18001, the port xDS itself/);
    expect(() => loadXdsConfig({ XDS_PORT: '9000', XDS_HEALTH_PORT: '9000' })).toThrow(/^XDS_HEALTH_PORT/);
    expect(loadXdsConfig({ XDS_PORT: '0', XDS_HEALTH_PORT: '0' })).toMatchObject({ port: 0, healthPort: 0 });
  });
});
