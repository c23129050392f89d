/**
 * Pure decisions: what to do with a task given what etcd holds and what ECS says. No I/O here;
 * the adapters in `lib/etcd` and `lib/ecs` carry the decisions out.
 */
import { TaskPhase, taskPhase, type TaskSnapshot } from './ecs/task';
import { RecordState, type TaskRecord, type Tombstone } from './task-record';

// The record vocabulary lives in lib/task-record.ts (with its schema); re-exported here, where its
// users have always found it.
export { RecordState, type TaskRecord, type Tombstone } from './task-record';

/** Where a write request comes from: an event, or ECS's own current answer during renew. */
export const WriteSource = {
  Event: 'event',
  Ecs: 'ecs',
  /**
   * ECS's answer about a task recorded pending (the follow-up, a drain check): written only while
   * its record is still pending, so checks racing for one task (a deploy's stops come in bursts)
   * publish it once.
   */
  PendingCheck: 'pending-check',
} as const;
export type WriteSource = (typeof WriteSource)[keyof typeof WriteSource];

/** Outcome of {@link decideWrite}. */
export type WriteDecision =
  | { readonly write: true }
  | { readonly write: false; readonly reason: 'stopped' | 'stale' | 'duplicate' };

/**
 * Whether a started task's state may be written over what etcd holds.
 *
 * Events arrive at least once and out of order; `version` orders one task's states. A stopped
 * task never runs again, so a tombstone wins over any version. ECS's own answer during renew may
 * refresh a record at the same version (health changes do not always bump it).
 */
export function decideWrite(
  incoming: { readonly version: number; readonly source: WriteSource },
  current: {
    readonly record?: Pick<TaskRecord, 'version'> & { readonly state?: RecordState };
    readonly tombstone?: Pick<Tombstone, 'version'>;
  },
): WriteDecision {
  if (current.tombstone) return { write: false, reason: 'stopped' };
  // Another writer settled the task (or its record is gone: renew is in charge of it then).
  if (incoming.source === WriteSource.PendingCheck && current.record?.state !== RecordState.Pending)
    return { write: false, reason: 'duplicate' };
  if (!current.record) return { write: true };
  if (incoming.version < current.record.version) return { write: false, reason: 'stale' };
  if (incoming.version === current.record.version && incoming.source === WriteSource.Event)
    return { write: false, reason: 'duplicate' };
  return { write: true };
}

/** The task holding an endpoint key another task wants, as far as etcd tells. */
export interface KeyHolder {
  /** Unknown for a key on no lease or on a lease without a task record. */
  readonly taskArn?: string;
  /** Unknown for records written before start times were kept, in formats without metadata. */
  readonly startedAt?: string;
}

/** Outcome of {@link decideKeyClaim}. */
export type KeyClaim = { readonly take: true } | { readonly take: false; readonly reason: string };

/**
 * Whether a task may take an endpoint key another lease holds (KEY_FORMAT=addr: an ip:port ECS
 * gave to another task). ECS gives one ip:port to one running task at a time, so of two tasks that
 * claim it, the one that started later is the current holder; an event of the older one, however
 * late, never takes the key back. A holder not known to be a task, or whose start time is unknown
 * (a record written before start times were kept), is treated as older: its key is not lost for good.
 */
export function decideKeyClaim(
  task: { readonly taskArn: string; readonly startedAt?: string },
  holder: KeyHolder,
): KeyClaim {
  if (holder.taskArn === undefined || holder.taskArn === task.taskArn || holder.startedAt === undefined)
    return { take: true };
  const held = Date.parse(holder.startedAt);
  const mine = task.startedAt === undefined ? Number.NaN : Date.parse(task.startedAt);
  if (Number.isNaN(held)) return { take: true };
  if (!Number.isNaN(mine) && held < mine) return { take: true };
  return {
    take: false,
    reason: Number.isNaN(mine)
      ? `held by task ${holder.taskArn} (started ${holder.startedAt}); this task's start time is unknown, so it cannot be the newer one`
      : `held by task ${holder.taskArn}, which started at ${holder.startedAt}, not before this task (${task.startedAt})`,
  };
}

/** Health of a task for routing purposes. */
export const Health = {
  /** Route to it. */
  Ready: 'ready',
  /** Has a health check that has not passed yet: do not route yet. */
  Pending: 'pending',
  /** Failing its health check: stop routing. */
  Unhealthy: 'unhealthy',
} as const;
export type Health = (typeof Health)[keyof typeof Health];

/**
 * The health gate. A task whose published containers define no health check is ready once
 * RUNNING; one with checks is ready when ECS says HEALTHY (task-level, or every gated container).
 */
export function evaluateHealth(
  task: Pick<TaskSnapshot, 'healthStatus' | 'containers'>,
  gatedContainers: readonly string[],
): Health {
  if (task.healthStatus === 'UNHEALTHY') return Health.Unhealthy;
  const gated = task.containers.filter((c) => gatedContainers.includes(c.name));
  if (gated.some((c) => c.healthStatus === 'UNHEALTHY')) return Health.Unhealthy;
  if (gatedContainers.length === 0) return Health.Ready;
  if (task.healthStatus === 'HEALTHY') return Health.Ready;
  if (gated.length === gatedContainers.length && gated.every((c) => c.healthStatus === 'HEALTHY')) return Health.Ready;
  return Health.Pending;
}

/** The record state a started task should have, given its health and whether it has endpoints. */
export function targetState(health: Health, endpointCount: number): RecordState {
  if (health === Health.Unhealthy) return RecordState.Withdrawn;
  if (health === Health.Pending) return RecordState.Pending;
  return endpointCount > 0 ? RecordState.Registered : RecordState.Empty;
}

/** What renew does with one recorded task. */
export const RenewAction = {
  /** Still right: renew its lease. */
  KeepAlive: 'keepalive',
  /** Rewrite it from ECS's answer (became healthy, changed, or needs repair). */
  Register: 'register',
  /** Unhealthy: remove its endpoints, keep watching it. */
  Withdraw: 'withdraw',
  /** Stopped, stopping or gone from ECS: remove it. */
  Deregister: 'deregister',
} as const;
export type RenewAction = (typeof RenewAction)[keyof typeof RenewAction];

/**
 * Decides what renew does with a recorded task, given what `DescribeTasks` said (or `undefined`
 * when ECS reported the task missing).
 */
export function decideRenew(
  record: Pick<TaskRecord, 'state' | 'version' | 'gatedContainers'>,
  described: TaskSnapshot | undefined,
): RenewAction {
  if (!described) return RenewAction.Deregister;
  const phase = taskPhase(described);
  if (phase === TaskPhase.Stopping) return RenewAction.Deregister;
  if (phase === TaskPhase.Starting) return RenewAction.KeepAlive;
  const health = evaluateHealth(described, record.gatedContainers);
  if (health === Health.Unhealthy)
    return record.state === RecordState.Withdrawn ? RenewAction.KeepAlive : RenewAction.Withdraw;
  if (health === Health.Pending)
    return record.state === RecordState.Withdrawn ? RenewAction.Register : RenewAction.KeepAlive;
  if (record.state === RecordState.Pending || record.state === RecordState.Withdrawn) return RenewAction.Register;
  return described.version > record.version ? RenewAction.Register : RenewAction.KeepAlive;
}
