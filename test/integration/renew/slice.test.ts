/**
 * Renew's sliced verification with real etcd and the real SDK against the local ECS endpoint: the
 * cursor lives in etcd, so a tick run by another process continues where the last one stopped;
 * and a tick that cannot read ECS before its deadline leaves its slice for the next tick without
 * failing anything or moving the cursor.
 */
import pLimit from 'p-limit';
import { afterEach, describe, expect, it } from 'vitest';
import { AwsEcsReader } from '../../../lib/ecs/api';
import { ReadBudget } from '../../../lib/ecs/budget';
import { parseTaskStateChange } from '../../../lib/ecs/event';
import { invocationDeadlineMs, setInvocationDeadline } from '../../../lib/etcd/client';
import { renewCursorKey } from '../../../lib/keys';
import { Registrar } from '../../../lib/registrar';
import { createHarness, memoryLog, type Harness } from '../../support/harness';
import { fargateEvent, taskId } from '../../kit/events';
import { loadEc2 } from '../../../lib/ecs/ec2-loader';
import { renewTasks } from '../../../lib/renew/run';

let h: Harness;
afterEach(async () => {
  setInvocationDeadline(undefined);
  await h?.close();
});

const TASKS = 350;

/** A harness with TASKS running tasks registered, and a registrar reading ECS through `budget`. */
async function fleet(budget: ReadBudget): Promise<{ registrar: () => Registrar }> {
  h = await createHarness({ ECS_MAX_READS_PER_SECOND: '1' });
  const limit = pLimit(32);
  await Promise.all(
    Array.from({ length: TASKS }, (_, n) =>
      limit(async () => {
        const event = fargateEvent(n, { salt: 's' });
        h.aws.putTaskFromDetail(event.detail);
        await h.registrar.register(parseTaskStateChange(event).task);
      }),
    ),
  );
  // A new Registrar (and reader) per tick: nothing carries over in memory, as between invocations.
  return {
    registrar: () =>
      new Registrar({
        config: h.config,
        etcd: h.etcd,
        registry: h.registry,
        ecs: new AwsEcsReader(undefined, { budget, deadline: invocationDeadlineMs, ec2: loadEc2 }),
        log: memoryLog(),
      }),
  };
}

const cursorOf = async () => JSON.parse((await h.etcd.get(renewCursorKey(h.config.statePrefix)).string())!).position;

describe('sliced verification', () => {
  it('continues from the cursor in etcd, tick after tick, from any process', async () => {
    const { registrar } = await fleet(new ReadBudget({ readsPerSecond: 100 }));
    // 5 s left: ECS work stops 3 s before the deadline, so at 1 read/s a tick affords at most 2
    // reads (fewer when the keepalives took long; always at least one unit).
    const tick = () => {
      setInvocationDeadline(Date.now() + 5000);
      return renewTasks(registrar());
    };
    // A pass: 4 DescribeTasks (100, 100, 100, 50 tasks, in task id order), then the cluster's 4
    // ListTasks pages (a unit larger than the tick's budget: it gets a tick of its own).
    const ids = Array.from({ length: TASKS }, (_, n) => taskId(n, 's')).sort();
    let verified = 0;
    let listed = false;
    for (let n = 1; !listed; n++) {
      expect(n).toBeLessThanOrEqual(8);
      const describes = h.aws.count('DescribeTasks');
      const summary = await tick();
      const v = summary.verification!;
      expect(v.budgetReads).toBeLessThanOrEqual(2);
      expect(v).toMatchObject({ passReads: 8, left: { tasks: 0, clusters: 0 } });
      expect(summary).toMatchObject({ records: TASKS, renewed: TASKS, failed: 0 });
      // Each tick describes the tasks right after where the last one stopped, 100 per call.
      const calls = h.aws.count('DescribeTasks') - describes;
      expect(v.tasksVerified).toBe(Math.min(100 * calls, TASKS - verified));
      verified += v.tasksVerified;
      listed = v.clustersListed === 1;
      expect(await cursorOf()).toEqual({ cluster: 'FargateCluster', task: listed ? '~' : ids[verified - 1] });
    }
    expect(verified).toBe(TASKS);

    // Then the pass starts again from the first task.
    const again = await tick();
    expect(again.verification!.tasksVerified).toBeGreaterThanOrEqual(100);
    expect(await cursorOf()).toEqual({ cluster: 'FargateCluster', task: ids[again.verification!.tasksVerified - 1] });
  });

  it('leaves its slice for the next tick when no ECS read can start before the deadline', async () => {
    const budget = new ReadBudget({ readsPerSecond: 1 });
    const { registrar } = await fleet(budget);
    setInvocationDeadline(Date.now() + 5000);
    budget.pause(60_000); // the account's bucket is empty for longer than the tick has
    const summary = await renewTasks(registrar());
    expect(summary.verification).toMatchObject({ tasksVerified: 0, left: { clusters: 0 } });
    expect(summary.verification!.left.tasks).toBeGreaterThanOrEqual(100);
    expect(summary.verification!.cursor).toBeUndefined();
    // Nothing failed and nothing failed open: the tasks were renewed, their check is only postponed.
    expect(summary).toMatchObject({
      records: TASKS,
      renewed: TASKS,
      failed: 0,
      failOpen: 0,
      ecsFailures: [],
      removed: 0,
    });
    expect(h.aws.count('DescribeTasks')).toBe(0);
  });
});
