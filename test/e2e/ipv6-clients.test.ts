/**
 * Clients dial IPv6: grpc-js servers on [::1] stand in for the tasks of a dual-stack container
 * instance (bridge mode), registered by the real register handler with ENDPOINT_ADDRESS_FAMILY=ipv6;
 * `watchService` and a grpc-js client dialing `etcd:///<prefix>/<service>` reach them at
 * `[::1]:<port>`. Loopback is allowed only because ALLOW_LOOPBACK_ENDPOINTS is set, as in every
 * local run.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerEtcdResolver, roundRobin } from '../../lib/discovery/grpc-resolver';
import { watchService } from '../../lib/discovery/watcher';
import { LocalAws } from '../kit/local-aws';
import { LocalFleet } from '../kit/local-fleet';
import { callMany, check, healthClient, startBackend, type Backend, type HealthClient } from '../kit/local-grpc';
import { loadHandlers, registerTask, type Handlers } from '../kit/handlers';
import { testEnv } from '../support/harness';

let aws: LocalAws;
let fleet: LocalFleet;
let env: Record<string, string>;
let handlers: Handlers;
let etcd: Etcd3;
const backends: Backend[] = [];
let client: HealthClient | undefined;

beforeAll(async () => {
  aws = await new LocalAws().start();
  fleet = new LocalFleet(aws, 'dual');
  // A dual-stack instance: the IPv6 address is chosen because the setting says so.
  aws.putContainerInstance(fleet.containerInstanceArn, 'i-0d5a1570c4000000a', '127.0.0.1', '::1');
  env = testEnv({ POWERTOOLS_LOG_LEVEL: 'ERROR', ALLOW_LOOPBACK_ENDPOINTS: 'true', ENDPOINT_ADDRESS_FAMILY: 'ipv6' });
  handlers = await loadHandlers({ ...aws.sdkEnv(), ...env });
  registerEtcdResolver({ hosts: env.ETCD_ENDPOINTS! });
  etcd = new Etcd3({ hosts: env.ETCD_ENDPOINTS! });
});
afterAll(async () => {
  client?.close();
  etcd?.close();
  await Promise.all(backends.map((b) => b.stop()));
  await aws?.stop();
});

describe('tasks published at IPv6 addresses', () => {
  it('are reached by watchService and a round_robin grpc-js client at [::1]:<port>', async () => {
    for (let i = 1; i <= 2; i++) {
      const server = await startBackend(`v6-${i}`, { ipv6: true });
      backends.push(server);
      await registerTask(handlers, fleet, 'six', server.port);
    }
    const addrs = backends.map((b) => b.addr).sort();
    expect(addrs.every((a) => a.startsWith('[::1]:'))).toBe(true);
    const watcher = watchService(etcd, `${env.REGISTRY_PREFIX}/six/`);
    await vi.waitFor(() => expect([...watcher.addresses()].sort()).toEqual(addrs), { timeout: 5000 });
    await watcher.close();
    client = healthClient(`etcd:///${env.REGISTRY_PREFIX}/six`, roundRobin);
    await check(client, { waitForReady: true, deadlineMs: 10_000 });
    for (let i = 0; i < 50 && backends.some((b) => b.calls === 0); i++) await check(client);
    const { errors, byPeer } = await callMany(client, 40);
    expect(errors).toEqual([]);
    expect([...byPeer.keys()].sort()).toEqual(addrs);
  });
});
