/**
 * Interop with a proxyless client nobody here wrote: Python's grpcio (gRPC C-core 1.51, Debian's
 * python3-grpcio, run with /usr/bin/python3) dialing `xds:///<service>` through the xDS server,
 * against grpc-js servers registered by the real register handler and stopped through the real
 * deregister handler, in two Availability Zones.
 *
 * Installs python3-grpcio when it can (root + apt-get), otherwise skips loudly. In CI (CI=true or
 * INTEROP_REQUIRED set) it fails instead.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, vi, type TestContext } from 'vitest';
import type { XdsServer } from '../../lib/xds/server';
import { interopRequired, pythonGrpcMissing } from '../../scripts/ensure-python-grpc.mjs';
import { loadHandlers, type Handlers } from '../kit/handlers';
import { lambdaContext } from '../kit/lambda';
import { LocalAws } from '../kit/local-aws';
import { compactHistory, startLocalEtcd, type LocalEtcd } from '../kit/local-etcd';
import { LocalFleet } from '../kit/local-fleet';
import { callsOf, callsSince, type Backend } from '../kit/local-grpc';
import { startPythonXdsClient, startReadyXds, startZonedTasks, xdsWatchClient, type PythonXdsClient } from '../kit/xds';
import { memoryLog, testEnv } from '../support/harness';

let skipReason: string | undefined;
let etcd: LocalEtcd;
let aws: LocalAws;
let fleet: LocalFleet;
let env: Record<string, string>;
let handlers: Handlers;
let watchClient: Etcd3;
let server: XdsServer;
const log = memoryLog();
const backends: Backend[] = [];
const pythons: PythonXdsClient[] = [];

const startServer = (port = 0) => startReadyXds({ etcd: watchClient, registryPrefix: env.REGISTRY_PREFIX!, port, log });

beforeAll(async () => {
  let missing = pythonGrpcMissing();
  if (missing) {
    spawnSync(process.execPath, [join(import.meta.dirname, '../../scripts/ensure-python-grpc.mjs')], {
      stdio: 'inherit',
    });
    missing = pythonGrpcMissing();
  }
  if (missing) {
    if (interopRequired())
      throw new Error(`CI or INTEROP_REQUIRED is set but the Python xDS test cannot run: ${missing}`);
    skipReason = `Python xDS test SKIPPED: ${missing}`;
    console.warn(`\n${'!'.repeat(100)}\n${skipReason}\n${'!'.repeat(100)}\n`);
    return;
  }
  // Its own etcd: one test restarts and compacts it.
  etcd = await startLocalEtcd();
  aws = await new LocalAws().start();
  fleet = new LocalFleet(aws);
  env = testEnv({ ETCD_ENDPOINTS: etcd.endpoint, POWERTOOLS_LOG_LEVEL: 'ERROR', ALLOW_LOOPBACK_ENDPOINTS: 'true' });
  handlers = await loadHandlers({ ...aws.sdkEnv(), ...env });
  watchClient = xdsWatchClient(etcd.endpoint);
  server = await startServer();
});
afterAll(async () => {
  await Promise.all(pythons.map((p) => p.stop()));
  await server?.close();
  watchClient?.close();
  await Promise.all(backends.map((b) => b.stop()));
  await aws?.stop();
  await etcd?.stop();
});

function skipUnlessReady(ctx: TestContext): void {
  if (skipReason) ctx.skip(skipReason);
}

const startTasks = (service: string, count: number, zone: string) =>
  startZonedTasks({ handlers, fleet, backends }, service, count, zone);

async function python(zone?: string): Promise<PythonXdsClient> {
  const client = await startPythonXdsClient({ server: `127.0.0.1:${server.port}`, zone, nodeId: `python-${zone}` });
  pythons.push(client);
  return client;
}

describe('a Python grpcio client of the xDS server', () => {
  it('spreads calls exactly over its zone, fails over, follows a stop and a new task, and survives an xDS server restart', async (ctx) => {
    skipUnlessReady(ctx);
    const inA = await startTasks('inventory', 3, 'us-east-1a');
    const inB = await startTasks('inventory', 2, 'us-east-1b');
    const a = inA.map((t) => t.server);
    const b = inB.map((t) => t.server);
    const client = await python('us-east-1a');
    expect(await client.call('inventory', 1, { waitForReady: true, timeoutSeconds: 10 })).toEqual({
      ok: 1,
      errors: [],
    });
    // Warm up until every zone-A task is connected, then round_robin is exact.
    await vi.waitFor(async () => {
      await client.call('inventory', 3);
      expect(a.every((s) => s.calls > 0)).toBe(true);
    });
    const beforeA = callsOf(a);
    const beforeB = callsOf(b);
    expect(await client.call('inventory', 60)).toEqual({ ok: 60, errors: [] });
    expect(callsSince(a, beforeA)).toEqual([20, 20, 20]);
    expect(callsSince(b, beforeB)).toEqual([0, 0]);

    // One zone-A task stops: no more calls to it, none fails.
    expect(await handlers.deregister(inA[0]!.task.stop(), lambdaContext('deregister'))).toMatchObject({
      action: 'removed',
    });
    // The update lands a few milliseconds after the handler returns (etcd → xDS server → client):
    // six round_robin calls over the three zone-A tasks give each two, so six that give the
    // stopped one none show the client has applied it.
    await vi.waitFor(
      async () => {
        const before = a[0]!.calls;
        await client.call('inventory', 6);
        expect(a[0]!.calls).toBe(before);
      },
      { timeout: 5000, interval: 0 },
    );
    const stopped = a[0]!.calls;
    expect(await client.call('inventory', 20)).toEqual({ ok: 20, errors: [] });
    expect(a[0]!.calls).toBe(stopped);

    // Zone A empties: calls fail over to zone B.
    for (const t of inA.slice(1)) await handlers.deregister(t.task.stop(), lambdaContext('deregister'));
    await vi.waitFor(async () => {
      const before = callsOf(b);
      expect((await client.call('inventory', 4)).errors).toEqual([]);
      expect(callsSince(b, before).reduce((x, y) => x + y)).toBe(4);
    });

    // A new task gets calls within a second of its registration.
    const [added] = await startTasks('inventory', 1, 'us-east-1b');
    const registeredAt = performance.now();
    await vi.waitFor(
      async () => {
        await client.call('inventory', 2);
        expect(added!.server.calls).toBeGreaterThan(0);
      },
      { timeout: 1000, interval: 0 },
    );
    expect(added!.server.lastCallAt! - registeredAt).toBeLessThan(1000);

    // The xDS server restarts while a task registers: the client keeps calling and then reaches it.
    const port = server.port;
    await server.close();
    expect(await client.call('inventory', 10)).toEqual({ ok: 10, errors: [] });
    const [fresh] = await startTasks('inventory', 1, 'us-east-1a');
    server = await startServer(port);
    await vi.waitFor(
      async () => {
        await client.call('inventory', 2);
        expect(fresh!.server.calls).toBeGreaterThan(0);
      },
      { timeout: 15_000, interval: 100 },
    );
    // Its own zone is back: zone B gets nothing.
    const beforeReturn = callsOf(b);
    expect(await client.call('inventory', 10)).toEqual({ ok: 10, errors: [] });
    expect(callsSince(b, beforeReturn)).toEqual([0, 0]);
    expect(log.lines.filter((l) => /rejected/.test(l.message))).toEqual([]);
  });

  it('calls every zone when its bootstrap names none', async (ctx) => {
    skipUnlessReady(ctx);
    const servers = [
      ...(await startTasks('pricing', 2, 'us-east-1a')),
      ...(await startTasks('pricing', 2, 'us-east-1b')),
    ].map((t) => t.server);
    const client = await python();
    expect(await client.call('pricing', 1, { waitForReady: true, timeoutSeconds: 10 })).toEqual({ ok: 1, errors: [] });
    await vi.waitFor(async () => {
      await client.call('pricing', 10);
      expect(servers.every((s) => s.calls > 0)).toBe(true);
    });
  });

  it('keeps calling while etcd restarts, and follows a stop and a new task across the restart and a compaction', async (ctx) => {
    skipUnlessReady(ctx);
    const tasks = await startTasks('shipping', 2, 'us-east-1a');
    const servers = tasks.map((t) => t.server);
    const client = await python('us-east-1a');
    expect(await client.call('shipping', 1, { waitForReady: true, timeoutSeconds: 10 })).toEqual({ ok: 1, errors: [] });

    await etcd.kill();
    await vi.waitFor(() => expect(log.lines.some((l) => /serving the last state read/.test(l.message))).toBe(true), {
      timeout: 10_000,
    });
    expect(await client.call('shipping', 10)).toEqual({ ok: 10, errors: [] });
    await etcd.restart();
    await vi.waitFor(() => expect(log.lines.some((l) => /etcd answers again/.test(l.message))).toBe(true), {
      timeout: 10_000,
    });

    await compactHistory(etcd.endpoint);
    await handlers.deregister(tasks[0]!.task.stop(), lambdaContext('deregister'));
    const [fresh] = await startTasks('shipping', 1, 'us-east-1a');
    await vi.waitFor(
      async () => {
        await client.call('shipping', 2);
        expect(fresh!.server.calls).toBeGreaterThan(0);
      },
      { timeout: 5000, interval: 50 },
    );
    const before = callsOf([...servers, fresh!.server]);
    expect(await client.call('shipping', 20)).toEqual({ ok: 20, errors: [] });
    expect(callsSince([...servers, fresh!.server], before)).toEqual([0, 10, 10]);
  });
});
