/**
 * Renew within ECS's read budget, scaled down (`npm run bench -- scale` runs 100,000 tasks in 50
 * clusters): 3,000 tasks in 5 clusters, the local ECS endpoint throttling like ECS (a bucket per
 * action of capacity 20 refilling 4 a second: a fifth of ECS's) and ECS_MAX_READS_PER_SECOND=2 (half
 * the sustained rate, as the default 10 is of ECS's 20), through the real renew handler with short
 * Lambda deadlines, so a full verification pass takes several ticks. Every tick ends within its deadline with
 * every lease renewed, under 5% of ECS calls are throttled, and within the K ticks the summary
 * reports, a task stopped without an event is removed and a task whose events were lost is
 * registered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RenewSummary } from '../../../lib/renew/summary';
import { lambdaContext, scheduledEvent } from '../../kit/lambda';
import { invokeAll, startIsolated, type Isolated } from '../../kit/platform';
import { fargateEvent } from '../../kit/events';

type Json = Record<string, any>;

const CLUSTERS = ['budget-a', 'budget-b', 'budget-c', 'budget-d', 'budget-e'];
const TASKS = 3000;
/** The renew function's time per tick: short, so a full verification pass takes several ticks. */
const TICK_MS = 10_000;

/** Task `n` of the fleet, in cluster `n % 5`. */
function taskEvent(n: number): Json {
  const event = fargateEvent(n, { salt: 'b' });
  const cluster = CLUSTERS[n % CLUSTERS.length]!;
  const id = event.detail.taskArn.split('/').pop();
  const taskArn = `arn:aws:ecs:us-west-2:111122223333:task/${cluster}/${id}`;
  const detail = {
    ...event.detail,
    taskArn,
    clusterArn: `arn:aws:ecs:us-west-2:111122223333:cluster/${cluster}`,
    containers: event.detail.containers.map((c: Json) => ({ ...c, taskArn })),
  };
  return { ...event, resources: [taskArn], detail };
}

let platform: Isolated;
beforeAll(async () => {
  platform = await startIsolated({ ECS_MAX_READS_PER_SECOND: '2' });
}, 120_000);
afterAll(() => platform?.stop());

describe('renew within the ECS read budget at 3,000 tasks in 5 clusters', () => {
  it('keeps every tick within its deadline and every lease renewed, is rarely throttled, and finds a silent stop and a lost start within K ticks', async () => {
    const { aws, functions, client } = platform;
    const events = Array.from({ length: TASKS }, (_, n) => taskEvent(n));
    for (const e of events) aws.putTaskFromDetail(e.detail);
    expect(
      await invokeAll(
        functions,
        events.map((event) => ({ handler: 'register', event })),
        { concurrency: 64 },
      ),
    ).toEqual([]);

    // The last task of the last cluster in the pass order stops without any event; a task of that
    // cluster starts and all its events are lost: both are reached last by a pass from the start.
    const last = events
      .filter((e) => e.detail.clusterArn.endsWith('budget-e'))
      .sort((a, b) => (a.detail.taskArn < b.detail.taskArn ? -1 : 1))
      .pop()!;
    aws.updateTask(last.detail.taskArn, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED', version: 6 });
    const lost = taskEvent(TASKS + 4); // in budget-e
    aws.putTaskFromDetail(lost.detail);

    aws.throttle({ capacity: 20, refillPerSecond: 4 });
    const callsBefore = [...aws.calls.values()].reduce((a, b) => a + b, 0);
    const idOf = (e: Json) => e.detail.taskArn.split('/').pop() as string;
    const published = async (e: Json) =>
      (await client.getAll().prefix('services/').keys()).some((k) => k.includes(idOf(e)));

    const summaries: RenewSummary[] = [];
    let stopGoneAt: number | undefined;
    let lostFoundAt: number | undefined;
    for (let tick = 1; tick <= 30 && (stopGoneAt === undefined || lostFoundAt === undefined); tick++) {
      const started = Date.now();
      const summary = await functions.renew(scheduledEvent, lambdaContext('renew', TICK_MS));
      expect(Date.now() - started).toBeLessThan(TICK_MS);
      summaries.push(summary);
      // Every record's lease renewed this tick (the stopped one too, before its removal).
      expect(summary).toMatchObject({ failed: 0, failOpen: 0, ecsFailures: [] });
      expect(summary.renewed + summary.removed + summary.registered).toBe(summary.records);
      if (stopGoneAt === undefined && !(await published(last))) stopGoneAt = tick;
      if (lostFoundAt === undefined && (await published(lost))) lostFoundAt = tick;
    }

    const k = Math.max(...summaries.map((s) => s.verification!.ticksPerPass));
    expect(k).toBeGreaterThan(1); // the pass does not fit one tick: verification is sliced
    expect(stopGoneAt).toBeLessThanOrEqual(k);
    expect(lostFoundAt).toBeLessThanOrEqual(k);
    expect(summaries.reduce((n, s) => n + s.verification!.tasksVerified, 0)).toBeGreaterThanOrEqual(TASKS - 1);

    const calls = [...aws.calls.values()].reduce((a, b) => a + b, 0) - callsBefore;
    expect(aws.throttledCount() / calls).toBeLessThan(0.05);

    // Every remaining lease was renewed by the last tick (not only counted): TTLs near the full 180 s.
    const records = Object.values(await client.getAll().prefix('registrar/tasks/').json()) as { leaseId: string }[];
    expect(records).toHaveLength(TASKS);
    const sinceLastTick = Math.ceil(summaries.at(-1)!.durationsMs.total / 1000) + 5;
    const sample = records.filter((_, i) => i % 50 === 0);
    for (const r of sample)
      expect(Number((await client.leaseClient.leaseTimeToLive({ ID: r.leaseId })).TTL)).toBeGreaterThanOrEqual(
        180 - sinceLastTick,
      );
  }, 600_000);
});
