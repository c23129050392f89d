import { describe, expect, it } from 'vitest';
import {
  LIST_POSITION,
  planSlice,
  SliceProgress,
  type SliceCluster,
  type SlicePosition,
} from '../../../lib/renew/slice';

const arn = (cluster: string, i: number) =>
  `arn:aws:ecs:us-east-1:123456789012:task/${cluster}/${i.toString(16).padStart(32, '0')}`;
const id = (i: number) => i.toString(16).padStart(32, '0');
function cluster(name: string, tasks: number, options: Partial<SliceCluster> = {}): SliceCluster {
  return {
    name,
    cluster: `arn:aws:ecs:us-east-1:123456789012:cluster/${name}`,
    taskArns: Array.from({ length: tasks }, (_, i) => arn(name, i)).reverse(),
    listed: true,
    ...options,
  };
}

/** Runs ticks as renew does (every unit finished) and returns, per tick, the tasks described. */
function runTicks(
  clusters: SliceCluster[],
  budget: number,
  ticks: number,
): { described: string[][]; listed: string[][]; k: number } {
  let cursor: SlicePosition | undefined;
  const described: string[][] = [];
  const listed: string[][] = [];
  let k = 0;
  for (let t = 0; t < ticks; t++) {
    const plan = planSlice({ clusters, budget, cursor });
    k = plan.ticksPerPass;
    const progress = new SliceProgress(plan, cursor);
    for (const unit of plan.units) progress.done(unit);
    described.push(plan.units.flatMap((u) => (u.kind === 'describe' ? u.taskArns : [])));
    listed.push(plan.units.filter((u) => u.kind === 'list').map((u) => u.name));
    cursor = progress.nextCursor();
  }
  return { described, listed, k };
}

describe('planSlice', () => {
  it('plans the whole pass when the budget allows: one DescribeTasks per 100 records, every ListTasks page', () => {
    const plan = planSlice({ clusters: [cluster('b', 250, { listPages: 3 }), cluster('a', 50)], budget: Infinity });
    expect(plan.units.map((u) => [u.kind, u.name, u.kind === 'describe' ? u.taskArns.length : u.reads])).toEqual([
      ['describe', 'a', 50],
      ['list', 'a', 1],
      ['describe', 'b', 100],
      ['describe', 'b', 100],
      ['describe', 'b', 50],
      ['list', 'b', 3],
    ]);
    expect(plan).toMatchObject({
      passReads: 8,
      plannedReads: 8,
      ticksPerPass: 1,
      tasks: 300,
      clusters: 2,
      wholePass: true,
    });
  });

  it('takes as many units as the budget pays for, and says how many ticks a pass takes', () => {
    const plan = planSlice({ clusters: [cluster('a', 1000), cluster('b', 1000)], budget: 7 });
    // A pass: 10 DescribeTasks + 10 ListTasks pages per cluster = 40 reads.
    expect(plan).toMatchObject({
      passReads: 40,
      plannedReads: 7,
      ticksPerPass: 6,
      tasks: 700,
      clusters: 0,
      wholePass: false,
    });
    expect(plan.units.every((u) => u.kind === 'describe' && u.name === 'a')).toBe(true);
  });

  it('covers every task and every listing within K ticks, starting each tick where the last stopped', () => {
    const clusters = [cluster('a', 430), cluster('b', 10), cluster('c', 777, { listPages: 8 })];
    const { described, listed, k } = runTicks(clusters, 5, 12);
    // Packed 5 reads a tick: a's 5 describes | a's 5 pages | b (1 + 1) and 3 of c's describes | c's
    // last 5 describes | c's 8 pages (a unit is never split: it takes a tick of its own).
    expect(k).toBe(5);
    const firstPass = described.slice(0, k).flat();
    expect(new Set(firstPass).size).toBe(430 + 10 + 777);
    expect(firstPass).toHaveLength(430 + 10 + 777); // nothing verified twice within a pass
    expect(listed.slice(0, k).flat().sort()).toEqual(['a', 'b', 'c']);
    // The second pass again covers everything within K ticks.
    expect(new Set(described.slice(k, 2 * k).flat()).size).toBe(430 + 10 + 777);
  });

  it('describes urgent tasks first, outside the pass order, from the same budget', () => {
    const plan = planSlice({ clusters: [cluster('a', 300, { urgent: [arn('a', 299)] })], budget: 2 });
    expect(plan.units[0]).toMatchObject({ kind: 'describe', taskArns: [arn('a', 299)] });
    expect(plan.units[0]!.position).toBeUndefined();
    expect(plan.units.slice(1).map((u) => u.kind)).toEqual(['describe']);
    expect(plan.tasks).toBe(101);
  });

  it('always takes one unit, so a listing larger than the budget still gets done', () => {
    const plan = planSlice({ clusters: [cluster('a', 0, { listPages: 30 })], budget: 10 });
    expect(plan.units).toEqual([
      {
        kind: 'list',
        cluster: expect.stringContaining('cluster/a'),
        name: 'a',
        reads: 30,
        position: { cluster: 'a', task: LIST_POSITION },
      },
    ]);
    expect(plan.ticksPerPass).toBe(1);
  });

  it('with no budget left still takes one whole batch of 100', () => {
    const plan = planSlice({ clusters: [cluster('a', 250)], budget: 0 });
    expect(plan.units.map((u) => (u.kind === 'describe' ? u.taskArns.length : u.kind))).toEqual([100]);
  });

  it('does not list clusters renew does not reconcile', () => {
    const plan = planSlice({ clusters: [cluster('a', 5, { listed: false })], budget: Infinity });
    expect(plan.units.map((u) => u.kind)).toEqual(['describe']);
    expect(plan.passReads).toBe(1);
  });

  it('starts at the first task after a cursor whose task is gone', () => {
    const plan = planSlice({ clusters: [cluster('a', 10)], budget: 1, cursor: { cluster: 'a', task: `${id(4)}x` } });
    expect(plan.units[0]).toMatchObject({ kind: 'describe', taskArns: [5, 6, 7, 8, 9].map((i) => arn('a', i)) });
  });
});

describe('SliceProgress', () => {
  it('moves the cursor past finished units only, and reports what is left', () => {
    const clusters = [cluster('a', 250), cluster('b', 50)];
    const plan = planSlice({ clusters, budget: Infinity });
    const progress = new SliceProgress(plan, undefined);
    progress.done(plan.units[0]!);
    progress.done(plan.units[2]!); // out of order: the cursor still stops after unit 0
    expect(progress.nextCursor()).toEqual({ cluster: 'a', task: id(99) });
    expect(progress.left()).toEqual({ tasks: 100 + 50, clusters: 2 });
  });

  it('keeps the old cursor when nothing finished', () => {
    const plan = planSlice({ clusters: [cluster('a', 10)], budget: Infinity, cursor: { cluster: 'a', task: id(3) } });
    expect(new SliceProgress(plan, { cluster: 'a', task: id(3) }).nextCursor()).toEqual({ cluster: 'a', task: id(3) });
  });
});
