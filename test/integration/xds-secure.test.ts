/**
 * The xDS server reads etcd the way the functions do: over TLS with a client certificate, as a user
 * whose role covers only the registry's prefixes, with the credentials given by the functions'
 * variables (`ETCD_CA_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`, `ETCD_USERNAME`, `ETCD_PASSWORD`).
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { loadConfig, loadXdsConfig } from '../../lib/config';
import { createEtcdClient } from '../../lib/etcd/client';
import { credentialsFromEnv } from '../../lib/etcd/credentials';
import { runXds } from '../../lib/xds/run';
import type { XdsServer } from '../../lib/xds/server';
import { startAdsClient } from '../kit/ads-client';
import { startSecureEtcd, type SecureEtcd } from '../kit/secure-etcd';
import { memoryLog } from '../support/harness';

let secure: SecureEtcd;

beforeAll(async () => {
  secure = await startSecureEtcd();
  const writer = createEtcdClient(secure.config, { ...secure.tls(), username: 'registrar', password: secure.password });
  try {
    const value = JSON.stringify({ Op: 0, Addr: '10.0.1.7:50051', Metadata: '{"availabilityZone":"us-east-1b"}' });
    await writer.put(`${secure.config.registryPrefix}/api/0123456789abcdef0123456789abcdef:50051`).value(value);
  } finally {
    writer.close();
  }
});
afterAll(async () => {
  await secure?.etcd.stop();
});

it('serves what a TLS etcd with auth holds, with the credentials from the environment, until told to stop', async () => {
  const env = {
    ETCD_ENDPOINTS: secure.etcd.endpoint,
    REGISTRY_PREFIX: secure.config.registryPrefix,
    STATE_PREFIX: secure.config.statePrefix,
    ETCD_CA_FILE: secure.pki.files.ca,
    ETCD_CERT_FILE: secure.pki.files.clientCert,
    ETCD_KEY_FILE: secure.pki.files.clientKey,
    ETCD_USERNAME: 'registrar',
    ETCD_PASSWORD: secure.password,
    XDS_PORT: '0',
    XDS_HOST: '127.0.0.1',
    XDS_HEALTH_PORT: '0',
  };
  const config = loadConfig(env);
  if (config.etcdCredentials.kind !== 'env') throw new Error('expected credentials from the environment');
  const stop = new AbortController();
  const log = memoryLog();
  let server!: XdsServer;
  const running = runXds({
    config,
    xds: loadXdsConfig(env),
    credentials: credentialsFromEnv(config.etcdCredentials, env),
    log,
    signal: stop.signal,
    onListening: (s) => (server = s),
  });
  await vi.waitFor(() => expect(server).toBeDefined());
  const client = startAdsClient({
    server: `127.0.0.1:${server.port}`,
    services: ['api'],
    nodeId: 'secure',
    zone: 'us-east-1b',
  });
  try {
    await client.complete;
    expect(client.assignments.get('api')).toEqual({ 'us-east-1b': ['10.0.1.7:50051'] });
  } finally {
    client.close();
  }
  stop.abort();
  await running;
  expect(log.lines.map((l) => l.message)).toEqual(
    expect.arrayContaining(['xds: first read of etcd done; serving', 'xds: stopping']),
  );
  expect(log.lines.filter((l) => l.level !== 'info')).toEqual([]);
});
