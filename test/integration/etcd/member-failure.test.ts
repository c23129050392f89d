/**
 * One bad member of a 3-member etcd never costs a lease: each member sits behind a TCP proxy, one
 * is stopped (its process killed, its proxy refusing), then one turns silent (connections accepted,
 * nothing ever answered). 20 consecutive renew ticks renew every lease and registers succeed; the
 * bad member is avoided after its first failure. And a single etcd restarted: the first event after
 * it answers again succeeds (no 5 s circuit breaker).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTaskStateChange } from '../../../lib/ecs/event';
import { DependencyError } from '../../../lib/errors';
import { createEtcdClient, type EtcdClient } from '../../../lib/etcd/client';
import { keepAliveLeases, type KeepAliveResult } from '../../../lib/etcd/keepalive';
import { fargateEvent } from '../../kit/events';
import { startLocalEtcd, startLocalEtcdCluster, type LocalEtcdCluster } from '../../kit/local-etcd';
import { startTcpProxy, type TcpProxy } from '../../kit/tcp-proxy';
import { createHarness, type Harness } from '../../support/harness';
import { renewTasks } from '../../../lib/renew/run';

const TIMEOUT_MS = 1000;
const TICKS = 20;
const FIRST = 900;

let cluster: LocalEtcdCluster;
let proxies: TcpProxy[];
let h: Harness;
let registered = 0;

/** Registers the next task through the register path; returns how long it took. */
async function registerNext(): Promise<number> {
  const event = fargateEvent(FIRST + registered);
  h.aws.putTaskFromDetail(event.detail);
  const started = performance.now();
  const outcome = await h.registrar.register(parseTaskStateChange(event).task);
  expect(outcome.action).toBe('registered');
  registered++;
  return performance.now() - started;
}

/** Every record's lease, read from etcd. */
async function recordLeases(): Promise<string[]> {
  return (await h.registry.listRecords()).records.map((s) => s.lease);
}

/** Runs `TICKS` renew ticks, a register every fifth; each tick must renew every lease. Returns the registers' times. */
async function ticksRenewEverything(): Promise<number[]> {
  const registers: number[] = [];
  for (let tick = 0; tick < TICKS; tick++) {
    if (tick % 5 === 4) registers.push(await registerNext());
    const summary = await renewTasks(h.registrar);
    expect({ tick, failed: summary.failed, failures: summary.failures }).toEqual({ tick, failed: 0, failures: [] });
    expect(summary.renewed).toBe(registered);
    for (const lease of await recordLeases()) {
      const { TTL } = await h.etcd.leaseClient.leaseTimeToLive({ ID: lease });
      expect(Number(TTL)).toBeGreaterThan(h.config.leaseTtlSeconds - 3);
    }
  }
  return registers;
}

/** A keepalive round on a fresh client, spread over all three members (three streams). */
async function freshRound(): Promise<{ result: KeepAliveResult; client: EtcdClient }> {
  const client = createEtcdClient({ etcdEndpoints: proxies.map((p) => p.endpoint), etcdTimeoutMs: TIMEOUT_MS });
  const leases = await recordLeases();
  const result = await keepAliveLeases(client, leases, {
    streams: 3,
    inFlight: Math.ceil(leases.length / 3),
    timeoutMs: 2 * TIMEOUT_MS,
  });
  return { result, client };
}

beforeAll(async () => {
  cluster = await startLocalEtcdCluster(3);
  proxies = await Promise.all(cluster.endpoints.map((e) => startTcpProxy(e)));
  h = await createHarness({
    ETCD_ENDPOINTS: proxies.map((p) => p.endpoint).join(','),
    ETCD_TIMEOUT_MS: String(TIMEOUT_MS),
  });
  for (let n = 0; n < 6; n++) await registerNext();
});
afterAll(async () => {
  await h?.close();
  for (const proxy of proxies ?? []) await proxy.close();
  await cluster?.stop();
});

describe('one of three etcd members bad', () => {
  it('stopped: a round renews on another member what the stopped one failed; 20 ticks renew every lease, registers succeed', {
    timeout: 60_000,
  }, async () => {
    const dead = cluster.members[2]!;
    await dead.kill();
    proxies[2]!.cut();
    await cluster.leader();

    const { result, client } = await freshRound();
    try {
      expect(result.failed).toEqual(new Map());
      expect(result.alive.size).toBe(registered);
      expect(client.health.trouble(proxies[2]!.endpoint)).toBe('down');
    } finally {
      client.close();
    }
    await ticksRenewEverything();

    proxies[2]!.restore();
    await dead.restart();
  });

  it('silent: avoided after its first timeout; 20 ticks renew every lease, registers succeed without waiting on it', {
    timeout: 60_000,
  }, async () => {
    const silent = proxies[1]!;
    silent.silence();

    const { result, client } = await freshRound();
    try {
      expect(result.failed).toEqual(new Map());
      expect(result.alive.size).toBe(registered);
      expect(client.health.trouble(silent.endpoint)).toBe('silent');
    } finally {
      client.close();
    }
    const registers = await ticksRenewEverything();
    expect((h.etcd as EtcdClient).health.trouble(silent.endpoint)).toBe('silent');
    // Only a call already on its way to the silent member when it went quiet waits its deadline.
    expect(registers.filter((ms) => ms >= TIMEOUT_MS).length).toBeLessThanOrEqual(1);

    silent.restore();
  });
});

describe('a single etcd restarted', () => {
  it('takes the first event after etcd answers again (no circuit breaker left open)', { timeout: 60_000 }, async () => {
    const etcd = await startLocalEtcd();
    const r = await createHarness({ ETCD_ENDPOINTS: etcd.endpoint, ETCD_TIMEOUT_MS: String(TIMEOUT_MS) });
    try {
      const events = [0, 1, 2, 3, 4].map((n) => fargateEvent(950 + n));
      for (const event of events) r.aws.putTaskFromDetail(event.detail);
      expect((await r.registrar.registerEvent(events[0])).action).toBe('registered');
      await etcd.kill();
      // Three events fail while etcd is down: etcd3's default breaker would now stay open for 5 s.
      for (const event of events.slice(1, 4))
        await expect(r.registrar.registerEvent(event)).rejects.toBeInstanceOf(DependencyError);
      await etcd.restart(); // returns as soon as etcd answers /health
      expect((await r.registrar.registerEvent(events[4])).action).toBe('registered');
    } finally {
      await r.close();
      await etcd.stop();
    }
  });
});
