/**
 * Convergence under chaos: a simulated fleet of N tasks (start, turn healthy or unhealthy, stop,
 * stop unannounced, never seen), its events delivered through the real handlers with 10% lost,
 * 20% duplicated and all shuffled, against a real etcd of its own and the real AWS SDK talking to
 * the local ECS endpoint. After one renew tick etcd must equal the truth.
 *
 * Seeded: the seed is printed; replay a run with CHAOS_SEED=<seed>. CHAOS_TASKS changes N.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRegistry, etcdSnapshot, CONSISTENT } from '../support/etcd';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import { invokeAll, redeliver, startIsolated, type Isolated } from '../kit/platform';
import { mulberry32, seedFrom } from '../kit/random';
import { deliver, divergence, expectedEndpoints, loadFleet, simulateFleet } from '../kit/simulation';

const SEED = seedFrom('CHAOS_SEED');
const N = Number(process.env.CHAOS_TASKS ?? 1000);
const RATES = { lost: 0.1, duplicated: 0.2 };

let rig: Isolated;
beforeAll(async () => {
  rig = await startIsolated();
});
afterAll(async () => rig?.stop());

describe('chaos', () => {
  it(`etcd equals the truth after one renew tick, and tasks ECS forgot are gone after the second (N=${N}, ${RATES.lost * 100}% lost, ${RATES.duplicated * 100}% duplicated, shuffled)`, {
    timeout: 120_000,
  }, async () => {
    console.log(`chaos: seed ${SEED} (replay: CHAOS_SEED=${SEED} npx vitest run test/integration/chaos.test.ts)`);
    const { aws, client, functions } = rig;
    const random = mulberry32(SEED);
    const tasks = simulateFleet(N, random);
    loadFleet(aws, tasks);
    const { deliveries, stats } = deliver(tasks, random, RATES);

    const failures = await invokeAll(functions, deliveries, { concurrency: 16 });
    const retries = await redeliver(functions, failures, { concurrency: 16 });
    expect(retries.stillFailing.map((f) => String(f.error))).toEqual([]);

    const expected = expectedEndpoints(tasks, 'services');
    const before = divergence((await etcdSnapshot(client)).kvs, expected, 'services');
    const summary = await functions.renew(scheduledEvent, lambdaContext('renew', 55_000));
    // A task ECS has forgotten (DescribeTasks: MISSING, not in ListTasks) is only marked by the first
    // tick, and removed by the next one (MISSING alone is no evidence of a stop): after one tick,
    // those are the only stale endpoints; after the second, none is.
    const forgotten = tasks.filter((t) => !t.final).map((t) => t.taskId);
    const first = divergence((await etcdSnapshot(client)).kvs, expected, 'services');
    expect(first.missing).toEqual([]);
    expect(first.stale.filter((entry) => !forgotten.some((id) => entry.includes(id)))).toEqual([]);
    expect(summary.missing).toBeGreaterThanOrEqual(
      new Set(forgotten.filter((id) => first.stale.some((entry) => entry.includes(id)))).size,
    );
    const second = await functions.renew(scheduledEvent, lambdaContext('renew', 55_000));
    expect(second).toMatchObject({ missing: 0, removed: summary.missing, registered: 0, repaired: 0, failed: 0 });
    const snapshot = await etcdSnapshot(client);
    const after = divergence(snapshot.kvs, expected, 'services');
    const registry = checkRegistry(snapshot, 'services', 'registrar');
    const running = new Set(tasks.filter((t) => t.final?.lastStatus === 'RUNNING').map((t) => t.taskArn));
    const recorded = new Set(
      snapshot.kvs
        .filter(([k]) => k.startsWith('registrar/tasks/'))
        .map(([, v]) => (JSON.parse(v) as { taskArn: string }).taskArn),
    );

    console.log(
      [
        `chaos: N=${N} seed=${SEED}: ${stats.emitted} events emitted, ${stats.routed} routed, ${stats.lost} lost at random + ${stats.lostByScenario} by scenario, ` +
          `${stats.duplicates} duplicated, ${stats.deliveries} deliveries; ${failures.length} threw and were applied on redelivery`,
        `  before the tick: stale ${before.stale.length}, missing ${before.missing.length}; ` +
          `tick: renewed ${summary.renewed}, registered ${summary.registered}, repaired ${summary.repaired}, removed ${summary.removed}, withdrawn ${summary.withdrawn}, MISSING marked ${summary.missing}, failed ${summary.failed}`,
        `  after one tick: stale ${first.stale.length} (all forgotten by ECS, marked), missing ${first.missing.length}; second tick removed ${second.removed}`,
        `  after two ticks: ${expected.size} endpoints expected; stale ${after.stale.length}, missing ${after.missing.length}; ` +
          `orphan keys ${registry.orphanKeys.length}, orphan leases ${registry.orphanLeases.length}`,
      ].join('\n'),
    );

    // The chaos must have left something for the tick to repair, or this test proves nothing.
    expect(before.missing.length).toBeGreaterThan(0);
    expect(before.stale.length).toBeGreaterThan(0);
    expect(summary.failed).toBe(0);
    expect(after).toEqual({ stale: [], missing: [] });
    expect([...recorded].filter((arn) => !running.has(arn))).toEqual([]);
    expect([...running].filter((arn) => !recorded.has(arn))).toEqual([]);
    expect(registry).toMatchObject(CONSISTENT);
  });
});
