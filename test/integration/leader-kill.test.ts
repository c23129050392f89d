/**
 * A 3-member etcd cluster on loopback, its leader killed (SIGKILL) in the middle of a burst of 500
 * register events driven through the real handler. Every event must either be applied or fail
 * loudly, and be applied when redelivered; no task lost, none with two leases, no orphan key or
 * lease. The killed member, restarted, must catch up.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistrarError } from '../../lib/errors';
import type { LocalAws } from '../kit/local-aws';
import { startLocalEtcdCluster, type LocalEtcd, type LocalEtcdCluster } from '../kit/local-etcd';
import { checkRegistry, etcdSnapshot, CONSISTENT } from '../support/etcd';
import { invokeAll, redeliver, startFunctions, type Functions, type Invocation } from '../kit/platform';
import { fargateEvent } from '../kit/events';

const BURST = 500;
const KILL_AFTER = 100; // settled invocations before the leader dies

let cluster: LocalEtcdCluster;
let client: Etcd3;
let aws: LocalAws;
let functions: Functions;

beforeAll(async () => {
  cluster = await startLocalEtcdCluster(3);
  client = new Etcd3({ hosts: [...cluster.endpoints] });
  ({ aws, functions } = await startFunctions({
    ETCD_ENDPOINTS: cluster.endpoints.join(','),
    REGISTRY_PREFIX: 'services',
    STATE_PREFIX: 'registrar',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  }));
});
afterAll(async () => {
  client?.close();
  await aws?.stop();
  await cluster?.stop();
});

/** Reads one member's own copy of the keyspace (serializable: no leader involved). */
async function localCopy(member: LocalEtcd): Promise<{ revision: string; keys: string[] }> {
  const own = new Etcd3({ hosts: member.endpoint });
  try {
    const res = await own.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), serializable: true });
    return { revision: res.header.revision, keys: res.kvs.map((kv) => `${kv.key.toString()}@${kv.mod_revision}`) };
  } finally {
    own.close();
  }
}

describe('etcd leader killed during a burst of register events', () => {
  it(`applies all ${BURST} events (failed ones on redelivery): none lost, one lease each, no orphan`, {
    timeout: 120_000,
  }, async () => {
    const events = Array.from({ length: BURST }, (_, n) => fargateEvent(n));
    for (const event of events) aws.putTaskFromDetail(event.detail);
    const leader = await cluster.leader();

    let settled = 0;
    let killed: Promise<void> | undefined;
    const acknowledged: Invocation[] = [];
    const burst: Invocation[] = events.map((event) => ({ handler: 'register', event }));
    const failures = await invokeAll(functions, burst, {
      concurrency: 16,
      onSettled: (invocation, outcome) => {
        if (!outcome.error) acknowledged.push(invocation);
        if (++settled === KILL_AFTER) killed = leader.kill();
      },
    });
    await killed;
    const newLeader = await cluster.leader();

    // Loud: every failure is one of the registrar's typed errors, saying what failed.
    const errorKinds = new Map<string, number>();
    for (const f of failures) {
      expect(f.error).toBeInstanceOf(RegistrarError);
      const kind = `${(f.error as Error).name}: ${(f.error as Error).message.replace(/\d+/g, 'N').slice(0, 90)}`;
      errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
    }
    // Applied: every event whose invocation succeeded is in etcd before any redelivery.
    const recordArns = async () =>
      new Set(
        (await etcdSnapshot(client)).kvs
          .filter(([k]) => k.startsWith('registrar/tasks/'))
          .map(([, v]) => (JSON.parse(v) as { taskArn: string }).taskArn),
      );
    const afterBurst = await recordArns();
    const acknowledgedNotApplied = acknowledged.filter((i) => !afterBurst.has(i.event.detail.taskArn));

    const retries = await redeliver(functions, failures, { concurrency: 16 });
    const snapshot = await etcdSnapshot(client);
    const registry = checkRegistry(snapshot, 'services', 'registrar');
    const recorded = await recordArns();
    const lost = events.filter((e) => !recorded.has(e.detail.taskArn)).length;
    const keys = snapshot.kvs.filter(([k]) => k.startsWith('services/'));

    const restartedAt = Date.now();
    await leader.restart();
    let caughtUp = false;
    const healthy = await localCopy(newLeader);
    while (!caughtUp && Date.now() - restartedAt < 30_000) {
      const copy = await localCopy(leader).catch(() => undefined);
      caughtUp =
        copy !== undefined &&
        copy.revision === healthy.revision &&
        JSON.stringify(copy.keys) === JSON.stringify(healthy.keys);
      if (!caughtUp) await new Promise((r) => setTimeout(r, 100));
    }

    console.log(
      [
        `leader kill: ${BURST} register events, leader ${leader.name} killed (SIGKILL) after ${KILL_AFTER} had settled, ${newLeader.name} elected; ` +
          `${failures.length} failed loudly, applied on redelivery in ${retries.rounds} round(s); acknowledged but not applied ${acknowledgedNotApplied.length}; lost ${lost}`,
        ...[...errorKinds].map(([kind, count]) => `  ${count} × ${kind}`),
        `  after: ${registry.records} records, ${keys.length} keys, ${snapshot.leases.length} leases; two leases for one task ${registry.sharedLeases.length + registry.duplicateRecords.length}, ` +
          `broken records ${registry.brokenRecords.length}, orphan keys ${registry.orphanKeys.length}, orphan leases ${registry.orphanLeases.length}; ` +
          `restarted member caught up: ${caughtUp ? `yes, in ${Date.now() - restartedAt} ms` : 'NO'}`,
      ].join('\n'),
    );

    expect(retries.stillFailing.map((f) => String(f.error))).toEqual([]);
    expect(acknowledgedNotApplied).toEqual([]);
    expect(lost).toBe(0);
    expect(registry.records).toBe(BURST);
    expect(keys).toHaveLength(BURST);
    expect(registry).toMatchObject(CONSISTENT);
    expect(snapshot.leases).toHaveLength(BURST);
    expect(caughtUp).toBe(true);
  });
});
