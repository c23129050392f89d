/**
 * A real etcd serving TLS with client certificates and auth enabled: user `registrar` (whose role
 * reads and writes only the two prefixes of `prefixes`) and user `nobody` (no role).
 */
import { randomUUID } from 'node:crypto';
import { Range } from 'etcd3';
import { loadConfig, type Config } from '../../lib/config';
import { createEtcdClient } from '../../lib/etcd/client';
import type { EtcdCredentials } from '../../lib/etcd/credentials';
import { startLocalEtcd, type LocalEtcd } from './local-etcd';
import { makeTestPki, type TestPki } from './tls';

export interface SecureEtcd {
  readonly etcd: LocalEtcd;
  readonly pki: TestPki;
  /** Config (endpoint and the granted prefixes) for the registrar. */
  readonly config: Config;
  /** The `registrar` user's password. */
  readonly password: string;
  /** TLS credentials, with another CA than etcd's when asked. */
  tls(ca?: string): EtcdCredentials;
}

export async function startSecureEtcd(): Promise<SecureEtcd> {
  const pki = makeTestPki();
  const etcd = await startLocalEtcd({
    tls: { certFile: pki.files.serverCert, keyFile: pki.files.serverKey, trustedCaFile: pki.files.ca },
  });
  const ns = `sec-${randomUUID().slice(0, 8)}`;
  const config = loadConfig({
    ETCD_ENDPOINTS: etcd.endpoint,
    REGISTRY_PREFIX: `${ns}/services`,
    STATE_PREFIX: `${ns}/registrar`,
    ETCD_TIMEOUT_MS: '3000',
  });
  const password = `pw-${randomUUID()}`;
  const tls = (ca = pki.pem.ca): EtcdCredentials => ({
    ca: Buffer.from(ca),
    cert: Buffer.from(pki.pem.clientCert),
    key: Buffer.from(pki.pem.clientKey),
  });
  const root = createEtcdClient(config, tls());
  try {
    await root
      .role('root')
      .create()
      .catch(() => undefined);
    await (await root.user('root').create(`root-${randomUUID()}`)).addRole('root');
    const role = await root.role('registrar').create();
    await role.grant([
      { permission: 'Readwrite', range: Range.prefix(`${config.registryPrefix}/`) },
      { permission: 'Readwrite', range: Range.prefix(`${config.statePrefix}/`) },
    ]);
    await (await root.user('registrar').create(password)).addRole('registrar');
    await root.user('nobody').create('nobody-pw');
    await root.auth.authEnable({});
  } finally {
    root.close();
  }
  return { etcd, pki, config, password, tls };
}
