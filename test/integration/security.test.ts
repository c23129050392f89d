/**
 * etcd over TLS with client certificates and etcd auth: a user whose role can only read and write
 * REGISTRY_PREFIX and STATE_PREFIX. Certificates are made with openssl at test time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deregisterTask } from '../../lib/deregister';
import { parseTaskStateChange } from '../../lib/ecs/event';
import { DependencyError } from '../../lib/errors';
import { createEtcdClient, diagnoseTls } from '../../lib/etcd/client';
import type { EtcdCredentials } from '../../lib/etcd/credentials';
import { Registry } from '../../lib/etcd/registry';
import { Registrar } from '../../lib/registrar';
import { createHarness, memoryLog, type Harness } from '../support/harness';
import { startSecureEtcd, type SecureEtcd } from '../kit/secure-etcd';
import { fargateEvent } from '../kit/events';
import { renewTasks } from '../../lib/renew/run';

let secure: SecureEtcd;
let h: Harness;
let PASSWORD: string;
let ns: string;
const tls = (ca?: string) => secure.tls(ca);
let config: SecureEtcd['config'];
let pki: SecureEtcd['pki'];

beforeAll(async () => {
  secure = await startSecureEtcd();
  ({ config, pki, password: PASSWORD } = secure);
  ns = config.registryPrefix.split('/')[0]!;
  h = await createHarness({ ETCD_ENDPOINTS: secure.etcd.endpoint });
});

afterAll(async () => {
  await h?.close();
  await secure?.etcd.stop();
});

function registrarWith(credentials: EtcdCredentials) {
  const client = createEtcdClient(config, credentials);
  const registry = new Registry(client, config, { diagnose: () => diagnoseTls(config, credentials) });
  const log = memoryLog();
  return { client, registry, log, registrar: new Registrar({ config, etcd: client, registry, ecs: h.ecs, log }) };
}

async function failure(promise: Promise<unknown>): Promise<DependencyError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DependencyError);
  return err as DependencyError;
}

describe('etcd with TLS client certificates and auth', () => {
  it('registers, renews and deregisters as a user whose role covers only the two prefixes', async () => {
    const { registrar, registry, client } = registrarWith({ ...tls(), username: 'registrar', password: PASSWORD });
    const event = fargateEvent(1);
    h.aws.putTaskFromDetail(event.detail);
    expect(await registrar.register(parseTaskStateChange(event).task)).toMatchObject({ action: 'registered' });
    expect(await renewTasks(registrar)).toMatchObject({ records: 1, renewed: 1, failed: 0 });
    const stopping = parseTaskStateChange({
      ...event,
      detail: { ...event.detail, version: 9, desiredStatus: 'STOPPED' },
    }).task;
    expect(await deregisterTask(registry, stopping)).toMatchObject({ action: 'removed' });
    client.close();
  });

  it('cannot write a key outside the granted prefixes', async () => {
    const { client } = registrarWith({ ...tls(), username: 'registrar', password: PASSWORD });
    const err = await client
      .put(`${ns}/elsewhere/key`)
      .value('x')
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/etcdserver: permission denied/);
    const other = await client
      .put(`services/api/hijack:1`)
      .value('10.0.0.1:1')
      .catch((e: unknown) => e);
    expect((other as Error).message).toMatch(/etcdserver: permission denied/);
    client.close();
  });

  it('says the password is wrong, without saying the password', async () => {
    const { registrar, client } = registrarWith({ ...tls(), username: 'registrar', password: 'not-the-password' });
    const err = await failure(registrar.register(parseTaskStateChange(fargateEvent(2)).task));
    expect(err.dependency).toBe('etcd');
    expect(err.message).toMatch(/etcd rejected the user name or password/);
    expect(err.message).not.toContain('not-the-password');
    client.close();
  });

  it('says the user lacks the role', async () => {
    const { registrar, client } = registrarWith({ ...tls(), username: 'nobody', password: 'nobody-pw' });
    const event = fargateEvent(3);
    h.aws.putTaskFromDetail(event.detail);
    const err = await failure(registrar.register(parseTaskStateChange(event).task));
    expect(err.message).toMatch(/etcd denied permission: the user's roles do not grant read\/write/);
    client.close();
  });

  it('says the server certificate is not trusted when the CA is wrong', async () => {
    const { registrar, client } = registrarWith({ ...tls(pki.pem.otherCa), username: 'registrar', password: PASSWORD });
    const err = await failure(registrar.register(parseTaskStateChange(fargateEvent(4)).task));
    expect(err.message).toMatch(
      /^etcd: lease grant failed: TLS with etcd at 127\.0\.0\.1:\d+ failed: \w+: .* the server's certificate is not trusted by the configured CA/,
    );
    client.close();
  });

  it('says no CA is configured when TLS credentials are missing', async () => {
    const { registrar, client } = registrarWith({ username: 'registrar', password: PASSWORD });
    const err = await failure(registrar.register(parseTaskStateChange(fargateEvent(5)).task));
    expect(err.message).toMatch(/TLS with etcd at .* failed: .* no CA configured for etcd/);
    client.close();
  });
});
