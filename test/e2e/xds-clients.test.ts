/**
 * Proxyless gRPC through the xDS server, with real parts: grpc-js servers on 127.0.0.1 stand in
 * for ECS tasks in two Availability Zones, their events go through the real register and
 * deregister handlers into a real etcd (this file's own, so it can be restarted and compacted), and
 * `@grpc/grpc-js-xds` clients dialing `xds:///<service>` must call exactly the registered tasks,
 * preferring their own zone.
 */
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { XdsServer } from '../../lib/xds/server';
import { loadHandlers, type Handlers } from '../kit/handlers';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import { LocalAws } from '../kit/local-aws';
import { compactHistory, startLocalEtcd, type LocalEtcd } from '../kit/local-etcd';
import { LocalFleet, type FleetTask } from '../kit/local-fleet';
import { callMany, callsOf, callsSince, check, keepCalling, type Backend, type HealthClient } from '../kit/local-grpc';
import { startAdsClient } from '../kit/ads-client';
import { startReadyXds, startZonedTasks, xdsHealthClient, xdsWatchClient } from '../kit/xds';
import { memoryLog, testEnv } from '../support/harness';

let etcd: LocalEtcd;
let aws: LocalAws;
let fleet: LocalFleet;
let env: Record<string, string>;
let handlers: Handlers;
let watchClient: Etcd3;
let server: XdsServer;
const log = memoryLog();
const backends: Backend[] = [];
const clients: HealthClient[] = [];

const ZONE_A = 'us-east-1a';
const ZONE_B = 'us-east-1b';

const startServer = (port = 0) => startReadyXds({ etcd: watchClient, registryPrefix: env.REGISTRY_PREFIX!, port, log });

beforeAll(async () => {
  etcd = await startLocalEtcd();
  aws = await new LocalAws().start();
  fleet = new LocalFleet(aws);
  env = testEnv({ ETCD_ENDPOINTS: etcd.endpoint, POWERTOOLS_LOG_LEVEL: 'ERROR', ALLOW_LOOPBACK_ENDPOINTS: 'true' });
  handlers = await loadHandlers({ ...aws.sdkEnv(), ...env });
  watchClient = xdsWatchClient(etcd.endpoint);
  server = await startServer();
});
afterAll(async () => {
  for (const client of clients) client.close();
  await server?.close();
  watchClient?.close();
  await Promise.all(backends.map((b) => b.stop()));
  await aws?.stop();
  await etcd?.stop();
});

/** Starts `count` servers as tasks of `service` in `zone` and registers each through the register handler. */
const startTasks = (service: string, count: number, zone = ZONE_A) =>
  startZonedTasks({ handlers, fleet, backends }, service, count, zone);

/** An xDS client of one service, once it has reached every given server. */
async function connectedClient(service: string, servers: readonly Backend[], zone?: string): Promise<HealthClient> {
  const client = xdsHealthClient(service, { server: `127.0.0.1:${server.port}`, zone, nodeId: `test-${service}` });
  clients.push(client);
  await check(client, { waitForReady: true, deadlineMs: 10_000 });
  for (let i = 0; i < 100 && servers.some((s) => s.calls === 0); i++) await check(client);
  return client;
}

async function deregister(task: FleetTask): Promise<void> {
  expect(await handlers.deregister(task.stop(), lambdaContext('deregister'))).toMatchObject({ action: 'removed' });
}

/**
 * Waits until the client has applied the update that removed `gone`: the update crosses one hop
 * more than with the etcd resolver (etcd → xDS server → client), so it lands a few milliseconds
 * after the handler returns (`npm run bench -- xds` measures how many). Six round_robin calls over
 * three endpoints give each two; six that give `gone` none show the client no longer has it.
 */
async function untilLeft(client: HealthClient, gone: Backend, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const before = gone.calls;
    await callMany(client, 6);
    if (gone.calls === before) return;
    if (Date.now() > deadline) throw new Error(`${gone.name} still gets calls ${timeoutMs} ms after its removal`);
  }
}

/** Calls until `done()` holds for the calls after the last one that reached a server of `gone` (or the time is up). */
async function untilSettled(client: HealthClient, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await check(client, { waitForReady: true }).catch(() => undefined);
}

describe('a grpc-js-xds client of the xDS server', () => {
  it('spreads round_robin calls exactly over the three tasks the register handler published', async () => {
    const servers = (await startTasks('search', 3)).map((t) => t.server);
    const client = await connectedClient('search', servers);
    const before = callsOf(servers);
    const { errors } = await callMany(client, 60);
    expect(errors).toEqual([]);
    expect(callsSince(servers, before)).toEqual([20, 20, 20]);
  });

  it('sends no call to a stopped task once the update reached the client, with no failed call meanwhile; a new task gets calls within a second', async () => {
    const tasks = await startTasks('orders', 3);
    const servers = tasks.map((t) => t.server);
    const client = await connectedClient('orders', servers);
    const stopping = tasks[1]!;

    const load = keepCalling(client);
    await deregister(stopping.task);
    await untilLeft(client, stopping.server);
    const settled = stopping.server.calls;
    const after = await callMany(client, 60);
    expect(after.errors).toEqual([]);
    expect(stopping.server.calls).toBe(settled);

    const [fresh] = await startTasks('orders', 1);
    const registeredAt = performance.now();
    await vi.waitFor(() => expect(fresh!.server.calls).toBeGreaterThan(0), { timeout: 1000, interval: 20 });
    expect(fresh!.server.lastCallAt! - registeredAt).toBeLessThan(1000);
    const during = await load.stop();
    expect(during.errors).toEqual([]);
    expect(during.calls).toBeGreaterThan(0);
  });

  it('calls only its own zone while it has tasks, fails over to the other zone when they stop, and comes back', async () => {
    const inA = await startTasks('ledger', 2, ZONE_A);
    const inB = await startTasks('ledger', 2, ZONE_B);
    const a = inA.map((t) => t.server);
    const b = inB.map((t) => t.server);
    const client = await connectedClient('ledger', a, ZONE_A);
    const beforeB = callsOf(b);
    const beforeA = callsOf(a);
    expect((await callMany(client, 40)).errors).toEqual([]);
    expect(callsSince(a, beforeA)).toEqual([20, 20]);
    expect(callsSince(b, beforeB)).toEqual([0, 0]);

    // A zone-B client prefers zone B.
    const clientB = await connectedClient('ledger', b, ZONE_B);
    const beforeAforB = callsOf(a);
    expect((await callMany(clientB, 20)).errors).toEqual([]);
    expect(callsSince(a, beforeAforB)).toEqual([0, 0]);

    // A client without a zone calls every zone.
    const anyZone = await connectedClient('ledger', [...a, ...b]);
    expect((await callMany(anyZone, 40)).byPeer.size).toBe(4);

    // Zone A empties: its clients move to zone B (priority 0 now), without failed calls.
    // Counted here: the zone-B and no-zone clients above called zone B already, and before the
    // update this client calls only zone A, so a call on each B server shows it has the update.
    const beforeFailover = callsOf(b);
    for (const t of inA) await deregister(t.task);
    await untilSettled(client, () => b.every((s, i) => s.calls > beforeFailover[i]!));
    const frozenA = callsOf(a);
    const failover = await callMany(client, 20);
    expect(failover.errors).toEqual([]);
    expect(callsOf(a)).toEqual(frozenA);

    // A task in zone A again: the client goes back to its own zone.
    const [back] = await startTasks('ledger', 1, ZONE_A);
    await untilSettled(client, () => back!.server.calls > 0);
    const beforeReturn = callsOf(b);
    expect((await callMany(client, 10)).errors).toEqual([]);
    expect(callsSince(b, beforeReturn)).toEqual([0, 0]);
  });

  it('stops calling a task the renew tick withdrew as unhealthy', async () => {
    const tasks = await startTasks('ledger-sick', 3);
    const servers = tasks.map((t) => t.server);
    const client = await connectedClient('ledger-sick', servers);
    const sick = tasks[0]!;
    sick.task.reportUnhealthy();
    expect(await handlers.renew(scheduledEvent, lambdaContext('renew'))).toMatchObject({ withdrawn: 1, failed: 0 });
    await untilLeft(client, sick.server);
    const atWithdrawal = sick.server.calls;
    const before = callsOf(servers);
    expect((await callMany(client, 20)).errors).toEqual([]);
    expect(sick.server.calls).toBe(atWithdrawal);
    expect(callsSince(servers, before)).toEqual([0, 10, 10]);
  });

  it("logs a client's NACK with its error, and keeps serving the others", async () => {
    const servers = (await startTasks('audit', 2)).map((t) => t.server);
    const rejecting = startAdsClient({
      server: `127.0.0.1:${server.port}`,
      services: ['audit'],
      nodeId: 'picky-client',
      nackAssignments: 'endpoint weights unsupported',
    });
    try {
      await vi.waitFor(() =>
        expect(log.lines).toContainEqual(
          expect.objectContaining({
            level: 'warn',
            message: expect.stringMatching(
              /^xds: client picky-client rejected type\.googleapis\.com\/envoy\.config\.endpoint\.v3\.ClusterLoadAssignment \(nonce \d+\): endpoint weights unsupported$/,
            ),
          }),
        ),
      );
      const client = await connectedClient('audit', servers);
      const before = callsOf(servers);
      expect((await callMany(client, 20)).errors).toEqual([]);
      expect(callsSince(servers, before)).toEqual([10, 10]);
    } finally {
      rejecting.close();
    }
  });

  it('keeps its clients calling while the xDS server restarts, and they resync to what changed meanwhile', async () => {
    const tasks = await startTasks('billing', 3);
    const servers = tasks.map((t) => t.server);
    const client = await connectedClient('billing', servers);
    const port = server.port;

    await server.close();
    expect((await callMany(client, 30)).errors).toEqual([]);
    await deregister(tasks[0]!.task);
    server = await startServer(port);

    await untilSettled(client, () => server.clients > 0);
    await vi.waitFor(
      async () => {
        const before = servers[0]!.calls;
        await callMany(client, 10);
        expect(servers[0]!.calls).toBe(before);
      },
      { timeout: 10_000 },
    );
    const before = callsOf(servers);
    expect((await callMany(client, 20)).errors).toEqual([]);
    expect(callsSince(servers, before)).toEqual([0, 10, 10]);
  });

  it('keeps serving its last state while etcd is down, says so, and follows etcd again once it is back', async () => {
    const tasks = await startTasks('payments', 2);
    const servers = tasks.map((t) => t.server);
    const client = await connectedClient('payments', servers);
    log.lines.length = 0;

    await etcd.kill();
    await vi.waitFor(() => expect(log.lines.some((l) => /serving the last state read/.test(l.message))).toBe(true), {
      timeout: 10_000,
    });
    // A client that connects while etcd is down gets the last state.
    const late = await connectedClient('payments', servers);
    expect((await callMany(late, 10)).errors).toEqual([]);
    expect((await callMany(client, 10)).errors).toEqual([]);

    await etcd.restart();
    await vi.waitFor(() => expect(log.lines.some((l) => /etcd answers again/.test(l.message))).toBe(true), {
      timeout: 10_000,
    });
    const [fresh] = await startTasks('payments', 1);
    await untilSettled(client, () => fresh!.server.calls > 0);
    expect(fresh!.server.calls).toBeGreaterThan(0);
  });

  it('follows the registry across a compaction of etcd history', async () => {
    const tasks = await startTasks('catalog', 2);
    const servers = tasks.map((t) => t.server);
    const client = await connectedClient('catalog', servers);
    await compactHistory(etcd.endpoint);
    await deregister(tasks[0]!.task);
    const [fresh] = await startTasks('catalog', 1);
    await untilSettled(client, () => fresh!.server.calls > 0);
    const before = callsOf([...servers, fresh!.server]);
    expect((await callMany(client, 20)).errors).toEqual([]);
    expect(callsSince([...servers, fresh!.server], before)).toEqual([0, 10, 10]);
  });
});
