import { describe, expect, it } from 'vitest';
import { RecordState, type TaskRecord } from '../../../lib/decide';
import type { DescribedTasks } from '../../../lib/ecs/reader';
import type { TaskSnapshot } from '../../../lib/ecs/task';
import type { MissingMark, StoredRecord } from '../../../lib/etcd/registry';
import { planRenew, StepKind, type ClusterFacts, type RenewFacts } from '../../../lib/renew/plan';
import { taskSnapshot } from '../../kit/events';

const CLUSTER = 'arn:aws:ecs:us-east-1:123456789012:cluster/prod';
const arn = (id: string) => `arn:aws:ecs:us-east-1:123456789012:task/prod/${id}`;

const task = (id: string, changes: Partial<TaskSnapshot> = {}): TaskSnapshot => taskSnapshot(id, changes);

const stored = (id: string, changes: Partial<TaskRecord> = {}): StoredRecord => ({
  key: `registrar/tasks/prod/${id}`,
  modRevision: '7',
  lease: `lease-${id}`,
  record: {
    taskArn: arn(id),
    clusterArn: CLUSTER,
    version: 5,
    state: RecordState.Registered,
    leaseId: `lease-${id}`,
    keys: [`services/api/${id}:50051`],
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/api:1',
    gatedContainers: [],
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...changes,
  },
});

const ok = <T>(value: T) => ({ ok: true as const, value });
const described = (tasks: TaskSnapshot[], missing: string[] = [], invalid: DescribedTasks['invalid'] = []) =>
  ok<DescribedTasks>({ tasks, missing, invalid });

/** Facts where every record's lease was renewed and every endpoint key hangs on its lease. */
function facts(records: StoredRecord[], cluster: Partial<ClusterFacts>, more: Partial<RenewFacts> = {}): RenewFacts {
  return {
    records,
    leases: { alive: new Set(records.map((r) => r.lease)), expired: new Set(), failed: new Map() },
    clusters: new Map([
      ['prod', { cluster: CLUSTER, served: true, listed: ok(records.map((r) => r.record.taskArn)), ...cluster }],
    ]),
    endpointLeases: new Map(records.flatMap((r) => r.record.keys.map((k) => [k, r.lease] as const))),
    missingMarks: new Map(),
    tombstoned: new Set(),
    now: '2026-01-01T00:01:00.000Z',
    ...more,
  };
}
const kinds = (plan: ReturnType<typeof planRenew>) => plan.steps.map((s) => [s.kind, s.taskArn]);
const mark = (id: string): [string, MissingMark] => [
  arn(id),
  { taskArn: arn(id), firstSeen: '2026-01-01T00:00:00.000Z' },
];

describe('planRenew', () => {
  it('only renews tasks ECS describes as running and healthy with their keys in place', () => {
    const plan = planRenew(facts([stored('a'), stored('b')], { described: described([task('a'), task('b')]) }));
    expect(plan).toEqual({ steps: [], renewed: 2, failOpen: 0, failures: [] });
  });

  it('rewrites, withdraws and tombstones as ECS says', () => {
    const records = [stored('a'), stored('b'), stored('c', { state: RecordState.Pending })];
    const plan = planRenew(
      facts(records, {
        described: described([
          task('a', { desiredStatus: 'STOPPED' }),
          task('b', { healthStatus: 'UNHEALTHY' }),
          task('c', { healthStatus: 'HEALTHY' }),
        ]),
      }),
    );
    expect(kinds(plan)).toEqual([
      [StepKind.Deregister, arn('a')],
      [StepKind.Withdraw, arn('b')],
      [StepKind.Register, arn('c')],
    ]);
  });

  describe('MISSING', () => {
    it('keeps a task ListTasks still lists, and clears its mark', () => {
      const plan = planRenew(
        facts([stored('a')], { described: described([], [arn('a')]) }, { missingMarks: new Map([mark('a')]) }),
      );
      expect(kinds(plan)).toEqual([[StepKind.ClearMissing, arn('a')]]);
      expect(plan.renewed).toBe(1);
    });

    it('marks, and keeps, a task ListTasks does not list either', () => {
      const plan = planRenew(facts([stored('a')], { described: described([], [arn('a')]), listed: ok([]) }));
      expect(plan.steps).toEqual([
        expect.objectContaining({
          kind: StepKind.MarkMissing,
          taskArn: arn('a'),
          firstSeen: '2026-01-01T00:01:00.000Z',
        }),
      ]);
    });

    it('removes (never tombstones) a task still MISSING and unlisted on a later tick', () => {
      const plan = planRenew(
        facts(
          [stored('a')],
          { described: described([], [arn('a')]), listed: ok([]) },
          { missingMarks: new Map([mark('a')]) },
        ),
      );
      expect(kinds(plan)).toEqual([[StepKind.RemoveMissing, arn('a')]]);
      expect(plan.steps.some((s) => s.kind === StepKind.Deregister)).toBe(false);
    });

    it('keeps a MISSING task when ListTasks failed (fail open), marking nothing', () => {
      const plan = planRenew(
        facts(
          [stored('a')],
          { described: described([], [arn('a')]), listed: { ok: false, error: 'throttled' } },
          { missingMarks: new Map([mark('a')]) },
        ),
      );
      expect(plan).toMatchObject({ steps: [], failOpen: 1 });
    });

    it('clears the mark of a task ECS describes again', () => {
      const plan = planRenew(
        facts([stored('a')], { described: described([task('a')]) }, { missingMarks: new Map([mark('a')]) }),
      );
      expect(kinds(plan)).toEqual([[StepKind.ClearMissing, arn('a')]]);
    });
  });

  it('restores a published task whose endpoint key is gone or on another lease', () => {
    const records = [stored('a'), stored('b')];
    const endpointLeases = new Map([[records[1]!.record.keys[0]!, 'lease-of-another-task']]);
    const plan = planRenew(facts(records, { described: described([task('a'), task('b')]) }, { endpointLeases }));
    expect(kinds(plan)).toEqual([
      [StepKind.RestoreKeys, arn('a')],
      [StepKind.RestoreKeys, arn('b')],
    ]);
    expect(plan.steps[0]!.reason).toContain('services/api/a:50051');
  });

  it('does not check keys of a task not verified this tick: it only gets its keepalive', () => {
    const plan = planRenew(
      facts([stored('a'), stored('b')], { described: described([task('a')]) }, { endpointLeases: new Map() }),
    );
    expect(kinds(plan)).toEqual([[StepKind.RestoreKeys, arn('a')]]);
    expect(plan.renewed).toBe(1);
  });

  it('renews without removing anything when ECS failed for the cluster', () => {
    const plan = planRenew(
      facts([stored('a')], { described: { ok: false, error: 'ServerException' }, listed: undefined }),
    );
    expect(plan).toEqual({ steps: [], renewed: 0, failOpen: 1, failures: [] });
  });

  it('never removes on an answer it cannot read', () => {
    const plan = planRenew(
      facts([stored('a')], { described: described([], [], [{ taskArn: arn('a'), error: 'bad' }]) }),
    );
    expect(plan).toEqual({ steps: [], renewed: 0, failOpen: 1, failures: [{ taskArn: arn('a'), error: 'bad' }] });
  });

  it('publishes again a running task whose lease expired, and reports one ECS could not be asked about', () => {
    const records = [stored('a'), stored('b')];
    const leases = { alive: new Set<string>(), expired: new Set(['lease-a', 'lease-b']), failed: new Map() };
    const plan = planRenew(facts(records, { described: described([task('a')]) }, { leases }));
    expect(kinds(plan)).toEqual([[StepKind.Register, arn('a')]]);
    expect(plan.failures).toEqual([{ taskArn: arn('b'), error: expect.stringContaining('lease expired') }]);
  });

  it('removes every task of a cluster ECS confirmed gone, and forgets the cluster', () => {
    const plan = planRenew(facts([stored('a'), stored('b')], { gone: 'INACTIVE' }));
    expect(kinds(plan)).toEqual([
      [StepKind.RemoveGone, arn('a')],
      [StepKind.RemoveGone, arn('b')],
      [StepKind.ForgetCluster, CLUSTER],
    ]);
  });

  it('repairs running tasks without a record, except tombstoned, stopping and recorded ones', () => {
    const unrecorded = described([
      task('new'),
      task('dead'),
      task('stopping', { desiredStatus: 'STOPPED' }),
      task('a'),
    ]);
    const plan = planRenew(
      facts([stored('a')], { described: described([task('a')]), unrecorded }, { tombstoned: new Set([arn('dead')]) }),
    );
    expect(kinds(plan)).toEqual([[StepKind.Repair, arn('new')]]);
  });

  it('repairs nothing where the tombstones could not be read, or the cluster is not served', () => {
    const unrecorded = described([task('new')]);
    expect(planRenew(facts([], { unrecorded }, { tombstoned: undefined })).steps).toEqual([]);
    expect(planRenew(facts([], { unrecorded, served: false })).steps).toEqual([]);
  });
});
