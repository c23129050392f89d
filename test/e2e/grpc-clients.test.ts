/**
 * The whole loop with real parts: grpc-js servers on 127.0.0.1 stand in for ECS tasks (bridge
 * mode, the host port being the server's), their events go through the real register, deregister
 * and renew handlers into the real etcd, and a grpc-js client dialing `etcd:///<prefix>/<service>`
 * with round_robin must reach exactly the registered tasks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerEtcdResolver, roundRobin } from '../../lib/discovery/grpc-resolver';
import { LocalAws } from '../kit/local-aws';
import { LocalFleet, type FleetTask } from '../kit/local-fleet';
import {
  callMany,
  check,
  healthClient,
  keepCalling,
  startBackend,
  type Backend,
  type HealthClient,
  callsOf,
  callsSince,
} from '../kit/local-grpc';
import { loadHandlers, registerTask, type Handlers } from '../kit/handlers';
import { testEnv } from '../support/harness';
import { lambdaContext, scheduledEvent } from '../kit/lambda';

let aws: LocalAws;
let fleet: LocalFleet;
let env: Record<string, string>;
let handlers: Handlers;
const backends: Backend[] = [];
const clients: HealthClient[] = [];

beforeAll(async () => {
  aws = await new LocalAws().start();
  fleet = new LocalFleet(aws);
  env = testEnv({ POWERTOOLS_LOG_LEVEL: 'ERROR', ALLOW_LOOPBACK_ENDPOINTS: 'true' });
  handlers = await loadHandlers({ ...aws.sdkEnv(), ...env });
  registerEtcdResolver({ hosts: env.ETCD_ENDPOINTS! });
});
afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(backends.map((b) => b.stop()));
  await aws.stop();
});

/** Starts `count` servers as tasks of `service` and registers each through the register handler. */
async function startTasks(service: string, count: number): Promise<{ task: FleetTask; server: Backend }[]> {
  const started = [];
  for (let i = 1; i <= count; i++) {
    const server = await startBackend(`${service}-${i}`);
    backends.push(server);
    const { task, keys } = await registerTask(handlers, fleet, service, server.port);
    expect(keys).toEqual([
      expect.stringMatching(new RegExp(`^${env.REGISTRY_PREFIX}/${service}/[0-9a-f]{32}:${server.port}$`)),
    ]);
    started.push({ task, server });
  }
  return started;
}

/** A round_robin client of one service, once it has reached every given server. */
async function connectedClient(service: string, servers: readonly Backend[] = []): Promise<HealthClient> {
  const client = healthClient(`etcd:///${env.REGISTRY_PREFIX}/${service}`, roundRobin);
  clients.push(client);
  await check(client, { waitForReady: true, deadlineMs: 10_000 });
  for (let i = 0; i < 50 && servers.some((s) => s.calls === 0); i++) await check(client);
  return client;
}

describe('a grpc-js client resolving through etcd', () => {
  it('spreads round_robin calls over the three tasks the register handler published', async () => {
    const tasks = await startTasks('search', 3);
    const servers = tasks.map((t) => t.server);
    const client = await connectedClient('search', servers);
    const before = callsOf(servers);
    const { errors } = await callMany(client, 60);
    expect(errors).toEqual([]);
    const received = callsSince(servers, before);
    expect(received.reduce((a, b) => a + b)).toBe(60);
    for (const n of received) expect(n).toBeGreaterThanOrEqual(15);
  });

  it('sends no call to a task once the deregister handler returned, and sees no error', async () => {
    const tasks = await startTasks('orders', 3);
    const servers = tasks.map((t) => t.server);
    const client = await connectedClient('orders', servers);
    const [, stopping] = tasks as [unknown, { task: FleetTask; server: Backend }];
    expect(stopping.server.calls).toBeGreaterThan(0);

    // Calls keep flowing while the stop is handled; none of them may fail.
    const load = keepCalling(client);
    await new Promise((r) => setTimeout(r, 50));
    const outcome = await handlers.deregister(stopping.task.stop(), lambdaContext('deregister'));
    expect(outcome).toMatchObject({ action: 'removed' });
    const during = await load.stop(); // calls already in flight at the return end here
    expect(during.errors).toEqual([]);
    expect(during.calls).toBeGreaterThan(0);

    const settled = stopping.server.calls;
    const after = await callMany(client, 50);
    expect(after.errors).toEqual([]);
    expect(stopping.server.calls).toBe(settled);
    // ECS then stops the container: the client keeps working.
    await stopping.server.stop();
    expect((await callMany(client, 50)).errors).toEqual([]);
  });

  it('never sends calls made to api to a task registered as api-admin', async () => {
    const api = (await startTasks('api', 2)).map((t) => t.server);
    const [admin] = (await startTasks('api-admin', 1)).map((t) => t.server) as [Backend];
    const apiClient = await connectedClient('api', api);
    expect((await callMany(apiClient, 40)).errors).toEqual([]);
    expect(admin.calls).toBe(0);
    // The admin task is published and reachable under its own name.
    const adminClient = await connectedClient('api-admin');
    expect((await callMany(adminClient, 5)).byPeer).toEqual(new Map([[admin.addr, 5]]));
  });

  it('stops calling a task the renew tick found unhealthy', async () => {
    const tasks = await startTasks('ledger', 3);
    const servers = tasks.map((t) => t.server);
    const client = await connectedClient('ledger', servers);
    const [sick] = tasks as [{ task: FleetTask; server: Backend }];

    sick.task.reportUnhealthy();
    const summary = await handlers.renew(scheduledEvent, lambdaContext('renew'));
    expect(summary).toMatchObject({ withdrawn: 1, failed: 0 });
    const atReturn = sick.server.calls;

    const { errors, byPeer } = await callMany(client, 50);
    expect(errors).toEqual([]);
    expect(sick.server.calls).toBe(atReturn);
    expect([...byPeer.keys()].sort()).toEqual([servers[1]!.addr, servers[2]!.addr].sort());
  });
});
