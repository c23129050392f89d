/**
 * The renew tick's decision, pure: what the registry holds (records, lease keepalive results,
 * endpoint keys, MISSING marks, tombstones) and what ECS said (DescribeTasks, ListTasks,
 * DescribeClusters) → the list of changes to make. No I/O: `lib/renew/tick.ts` gathers the facts
 * and carries the steps out, and a dry run lists the very same steps.
 */
import { RecordState, RenewAction, decideRenew } from '../decide';
import type { DescribedTasks } from '../ecs/reader';
import { clusterNameOf } from '../ecs/arn';
import { describeState, TaskPhase, taskPhase, type TaskSnapshot } from '../ecs/task';
import type { MissingMark, StoredRecord } from '../task-record';

/** An ECS answer, or why there is none. */
export type Answer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** What ECS said about one cluster this tick. */
export interface ClusterFacts {
  /** The cluster as recorded or configured (ARN or name). */
  readonly cluster: string;
  /**
   * DescribeTasks of the records verified this tick. A record whose task is in none of its
   * `tasks`, `missing` or `invalid` was not verified (outside this tick's slice, or absent: nothing
   * asked) and only gets its keepalive.
   */
  readonly described?: Answer<DescribedTasks>;
  /** ListTasks (desiredStatus RUNNING); absent when not asked. */
  readonly listed?: Answer<readonly string[]>;
  /** DescribeTasks of listed tasks that have no record (repair candidates); absent when none. */
  readonly unrecorded?: Answer<DescribedTasks>;
  /** Whether running tasks without a record are registered here (a cluster the registrar serves). */
  readonly served: boolean;
  /** DescribeClusters' status when it confirmed the cluster is gone (`INACTIVE` or `MISSING`). */
  readonly gone?: string;
}

/** Everything a renew tick decides from. */
export interface RenewFacts {
  /** Task records read at the start of the tick. */
  readonly records: readonly StoredRecord[];
  /** The keepalive (or, in a dry run, the lease probe) of every record's lease. */
  readonly leases: {
    readonly alive: { has(lease: string): boolean };
    readonly expired: { has(lease: string): boolean };
    readonly failed: ReadonlyMap<string, string>;
  };
  /** By cluster name. */
  readonly clusters: ReadonlyMap<string, ClusterFacts>;
  /** Endpoint key → the lease it hangs on; absent when not read (no key check this tick). */
  readonly endpointLeases?: ReadonlyMap<string, string>;
  /** MISSING marks by task ARN, as read at the start of the tick (so written by an earlier tick). */
  readonly missingMarks: ReadonlyMap<string, MissingMark>;
  /**
   * Task ARNs among the repair candidates that have a tombstone (the write would refuse them);
   * undefined when they could not be read (then nothing is repaired this tick).
   */
  readonly tombstoned: ReadonlySet<string> | undefined;
  /** ISO time of the tick (written into new MISSING marks). */
  readonly now: string;
}

/** The kinds of change a renew tick makes. */
export const StepKind = {
  /** Rewrite a recorded task from ECS's answer (turned healthy, changed, lease expired). */
  Register: 'register',
  /** Rewrite a recorded task whose endpoint keys are missing or hang on another lease. */
  RestoreKeys: 'restore-keys',
  /** Register a running task that has no record (its events were lost). */
  Repair: 'repair',
  /** Remove an unhealthy task's endpoints, keep its record. */
  Withdraw: 'withdraw',
  /** Remove a task ECS says stopped or is stopping, with a tombstone. */
  Deregister: 'deregister',
  /** Remember that ECS answered MISSING for a task ListTasks does not list (kept until confirmed). */
  MarkMissing: 'mark-missing',
  /** Remove, without a tombstone, a task still MISSING and unlisted on a later tick. */
  RemoveMissing: 'remove-missing',
  /** Forget a MISSING mark: ECS describes or lists the task again. */
  ClearMissing: 'clear-missing',
  /** Remove, without a tombstone, a task of a cluster that no longer exists. */
  RemoveGone: 'remove-gone',
  /** Forget a cluster that no longer exists. */
  ForgetCluster: 'forget-cluster',
} as const;
export type StepKind = (typeof StepKind)[keyof typeof StepKind];

interface StepBase {
  /** The task's ARN (the cluster's, for {@link StepKind.ForgetCluster}). */
  readonly taskArn: string;
  /** Cluster name. */
  readonly cluster: string;
  /** Why, for the operator. */
  readonly reason: string;
}

/** One change of a renew tick. */
export type RenewStep =
  | (StepBase & {
      readonly kind: typeof StepKind.Register | typeof StepKind.RestoreKeys;
      readonly stored: StoredRecord;
      readonly task: TaskSnapshot;
    })
  | (StepBase & { readonly kind: typeof StepKind.Repair; readonly task: TaskSnapshot })
  | (StepBase & {
      readonly kind: typeof StepKind.Withdraw | typeof StepKind.Deregister;
      readonly stored: StoredRecord;
      readonly task: TaskSnapshot;
    })
  | (StepBase & {
      readonly kind: typeof StepKind.MarkMissing;
      readonly stored: StoredRecord;
      readonly firstSeen: string;
    })
  | (StepBase & {
      readonly kind: typeof StepKind.RemoveMissing | typeof StepKind.RemoveGone | typeof StepKind.ClearMissing;
      readonly stored: StoredRecord;
    })
  | (StepBase & { readonly kind: typeof StepKind.ForgetCluster; readonly clusterArn: string; readonly status: string });

/** What a renew tick will do. */
export interface RenewPlan {
  /** Every change, in no particular order (each touches one task, or one cluster key). */
  readonly steps: readonly RenewStep[];
  /** Leases renewed with nothing else to do. */
  readonly renewed: number;
  /** Leases renewed without ECS's answer, because ECS failed for their cluster. */
  readonly failOpen: number;
  /** Records that could not be handled, and why. */
  readonly failures: readonly { readonly taskArn: string; readonly error: string }[];
}

/**
 * Decides a renew tick. Per record: a cluster ECS confirmed gone → remove (no tombstone);
 * ECS failed → keepalive only (fail open); ECS's answer → {@link decideRenew}, plus a check that
 * a published task's endpoint keys exist on its lease; MISSING → kept if ListTasks lists it (or
 * ListTasks failed), else marked, and removed without a tombstone only when an earlier tick's mark
 * is still there. Then every running task ListTasks lists without a record (and without a
 * tombstone) in a served cluster is repaired.
 *
 * @example
 * const plan = planRenew(facts);
 * for (const step of plan.steps) await apply(step);
 */
export function planRenew(facts: RenewFacts): RenewPlan {
  const p: Planning = { facts, steps: [], failures: [], renewed: 0, failOpen: 0, indexes: new Map() };
  const recorded = new Set<string>();
  for (const stored of facts.records) {
    recorded.add(stored.record.taskArn);
    planRecord(p, stored);
  }
  for (const [cluster, c] of facts.clusters) planCluster(p, cluster, c, recorded);
  return { steps: p.steps, renewed: p.renewed, failOpen: p.failOpen, failures: p.failures };
}

/** The plan as it is built: the steps, the failures and the counts of leases only renewed. */
interface Planning {
  readonly facts: RenewFacts;
  readonly steps: RenewStep[];
  readonly failures: { taskArn: string; error: string }[];
  renewed: number;
  failOpen: number;
  /** ECS's answers by task ARN, built once per cluster: a cluster can hold tens of thousands of tasks. */
  readonly indexes: Map<string, ReturnType<typeof indexAnswers>>;
}

function fail(p: Planning, taskArn: string, error: string): void {
  p.failures.push({ taskArn, error });
}

/** The lease was renewed (or not) and nothing else is done. */
function keep(p: Planning, stored: StoredRecord, why: 'verified' | 'fail-open' | 'unverified'): void {
  const { lease, record } = stored;
  const { leases } = p.facts;
  if (leases.alive.has(lease)) {
    if (why === 'fail-open') p.failOpen++;
    else p.renewed++;
  } else if (leases.expired.has(lease))
    fail(p, record.taskArn, 'lease expired and ECS could not be asked about the task; reconcile will restore it');
  else fail(p, record.taskArn, leases.failed.get(lease) ?? 'keepalive failed');
}

function answersOf(p: Planning, name: string, c: ClusterFacts): ReturnType<typeof indexAnswers> {
  let index = p.indexes.get(name);
  if (!index) p.indexes.set(name, (index = indexAnswers(c)));
  return index;
}

/** One record: its cluster gone, ECS not asked or failed, ECS's answer, or MISSING. */
function planRecord(p: Planning, stored: StoredRecord): void {
  const { record } = stored;
  const cluster = clusterNameOf(record.clusterArn);
  const c = p.facts.clusters.get(cluster);
  if (c?.gone) {
    p.steps.push({
      taskArn: record.taskArn,
      cluster,
      kind: StepKind.RemoveGone,
      stored,
      reason: `cluster ${cluster} no longer exists (DescribeClusters: ${c.gone})`,
    });
    return;
  }
  const described = c?.described;
  if (!described) return keep(p, stored, 'unverified');
  if (!described.ok) return keep(p, stored, 'fail-open');
  const answers = answersOf(p, cluster, c);
  const task = answers.tasks.get(record.taskArn);
  if (!task) return planUndescribed(p, stored, answers);
  if (p.facts.missingMarks.has(record.taskArn))
    p.steps.push({
      taskArn: record.taskArn,
      cluster,
      kind: StepKind.ClearMissing,
      stored,
      reason: `ECS describes the task again (${describeState(task)})`,
    });
  planDescribed(p, stored, task);
}

/** A record ECS's DescribeTasks did not describe: an answer it cannot read, not asked, or MISSING. */
function planUndescribed(p: Planning, stored: StoredRecord, answers: ReturnType<typeof indexAnswers>): void {
  const { record } = stored;
  const base = { taskArn: record.taskArn, cluster: clusterNameOf(record.clusterArn) };
  const mark = p.facts.missingMarks.get(record.taskArn);
  const untrusted = answers.invalid.get(record.taskArn);
  if (untrusted !== undefined) {
    // Never remove on an answer we cannot read: renew it and report.
    fail(p, record.taskArn, untrusted);
    return keep(p, stored, 'fail-open');
  }
  if (!answers.missing.has(record.taskArn)) return keep(p, stored, 'unverified');
  // MISSING: ECS's reads are eventually consistent, so this alone proves nothing.
  if (!answers.listed) return keep(p, stored, 'fail-open');
  if (answers.listed.has(record.taskArn)) {
    if (mark) p.steps.push({ ...base, kind: StepKind.ClearMissing, stored, reason: 'ListTasks lists the task again' });
    return keep(p, stored, 'verified');
  }
  // Its lease is gone: the record and its keys went with it; nothing to mark or remove.
  if (p.facts.leases.expired.has(stored.lease)) return;
  if (mark)
    p.steps.push({
      ...base,
      kind: StepKind.RemoveMissing,
      stored,
      reason: `ECS has answered MISSING since ${mark.firstSeen} and ListTasks does not list the task`,
    });
  else
    p.steps.push({
      ...base,
      kind: StepKind.MarkMissing,
      stored,
      firstSeen: p.facts.now,
      reason: 'ECS answers MISSING and ListTasks does not list the task: kept until a later tick confirms',
    });
}

/** A record ECS described: {@link decideRenew}, then a published task's endpoint keys on its lease. */
function planDescribed(p: Planning, stored: StoredRecord, task: TaskSnapshot): void {
  const { facts, steps } = p;
  const { record, lease } = stored;
  const base = { taskArn: record.taskArn, cluster: clusterNameOf(record.clusterArn), stored, task };
  const action = decideRenew(record, task);
  const state = `ECS says ${describeState(task)}`;
  if (action === RenewAction.Register)
    steps.push({
      ...base,
      kind: StepKind.Register,
      reason: `${state}; record is ${record.state} at version ${record.version}`,
    });
  else if (action === RenewAction.Withdraw) steps.push({ ...base, kind: StepKind.Withdraw, reason: state });
  else if (action === RenewAction.Deregister) steps.push({ ...base, kind: StepKind.Deregister, reason: state });
  else if (facts.leases.expired.has(lease) && taskPhase(task) === TaskPhase.Started)
    steps.push({ ...base, kind: StepKind.Register, reason: 'lease expired: publish again' });
  else if (!facts.leases.alive.has(lease) || record.state !== RecordState.Registered || !facts.endpointLeases)
    keep(p, stored, 'verified');
  else {
    const lost = record.keys.filter((k) => facts.endpointLeases!.get(k) !== lease);
    if (lost.length === 0) keep(p, stored, 'verified');
    else
      steps.push({
        ...base,
        kind: StepKind.RestoreKeys,
        reason: `endpoint keys missing or on another lease: ${lost.join(', ')}`,
      });
  }
}

/** One cluster: forgotten when gone; else its running tasks without a record are repaired. */
function planCluster(p: Planning, cluster: string, c: ClusterFacts, recorded: ReadonlySet<string>): void {
  const { tombstoned } = p.facts;
  if (c.gone) {
    p.steps.push({
      taskArn: c.cluster,
      cluster,
      kind: StepKind.ForgetCluster,
      clusterArn: c.cluster,
      status: c.gone,
      reason: `DescribeClusters says ${c.gone}`,
    });
    return;
  }
  if (!c.served || !c.unrecorded?.ok) return;
  for (const bad of c.unrecorded.value.invalid) fail(p, bad.taskArn, bad.error);
  if (!tombstoned) return;
  for (const task of c.unrecorded.value.tasks) {
    if (recorded.has(task.taskArn) || taskPhase(task) !== TaskPhase.Started || tombstoned.has(task.taskArn)) continue;
    p.steps.push({
      taskArn: task.taskArn,
      cluster,
      kind: StepKind.Repair,
      task,
      reason: `running in ECS (${describeState(task)}) without a record`,
    });
  }
}

/** A cluster's ECS answers as sets and maps by task ARN. */
function indexAnswers(c: ClusterFacts) {
  const described = c.described?.ok ? c.described.value : undefined;
  return {
    tasks: new Map((described?.tasks ?? []).map((t) => [t.taskArn, t])),
    missing: new Set(described?.missing ?? []),
    invalid: new Map((described?.invalid ?? []).map((i) => [i.taskArn, i.error])),
    /** Undefined when ListTasks was not asked or failed. */
    listed: c.listed?.ok ? new Set(c.listed.value) : undefined,
  };
}
