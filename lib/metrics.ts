/**
 * Which CloudWatch metrics (Powertools EMF) each outcome emits. Pure: the handlers add what these
 * return to the invocation's metrics, flushed once per invocation.
 *
 * | metric | meaning |
 * |---|---|
 * | `Registered` | a task's endpoints were published (event or renew) |
 * | `HeldBackPending` | a health-gated task was recorded but not published yet |
 * | `Withdrawn` | an unhealthy task's endpoints were removed |
 * | `Deregistered` | a stopping task's keys were removed |
 * | `Renewed` | leases renewed by a renew tick |
 * | `IgnoredStale` | an event older than, equal to, or after the stop of what etcd holds changed nothing |
 * | `RepairedByReconcile` | running tasks without a record (lost events) registered by renew |
 * | `FailOpenRenewed` | leases renewed without ECS's answer because ECS failed for their cluster |
 * | `EcsFailures` | ECS API calls that failed (after SDK retries) |
 * | `RenewTaskFailures` | tasks a renew tick could not handle |
 * | `FollowUpsStarted` | pending tasks whose follow-up was started (first message sent) |
 * | `FollowUpsNotStarted` | pending tasks whose follow-up could not be started (renew publishes them) |
 * | `FollowUpPublished` | pending tasks published by a follow-up check (ECS said HEALTHY) |
 * | `FollowUpWithdrawn` | pending tasks withdrawn by a follow-up check (ECS said UNHEALTHY) |
 * | `FollowUpRescheduled` | pending tasks still pending at a check, sent back for the next |
 * | `FollowUpGaveUp` | pending tasks past their health check's bound (renew in charge) |
 * | `FollowUpRejected` | follow-up messages malformed or naming an unknown task (acknowledged, logged) |
 * | `FollowUpFailed` | follow-up messages that failed (etcd, ECS, SQS) and will be delivered again |
 * | `DrainPublished` | pending tasks a drain check published before a stopping task's delete |
 * | `DrainCheckFailures` | drain checks that failed in part (the stop went ahead) |
 * | `KeysRestored` | registered tasks whose missing endpoint keys renew wrote again |
 * | `MissingMarked` | tasks ECS answered MISSING for (not listed either), kept until a later tick confirms |
 * | `ClustersRemoved` | clusters ECS confirmed deleted: their tasks removed, the cluster forgotten |
 * | `AmbiguousPorts` | registrations (event or renew) whose gRPC port was guessed among several unmarked TCP ports (a WARN says the fix) |
 * | `EtcdLatency` | milliseconds per etcd request (one value per request) |
 *
 * Metric names are a contract with dashboards and alarms and keep their names; the outcomes they
 * count are named by what happened in etcd. Where the two differ: a deregister outcome `removed`
 * and a renew summary's `removed` (tasks ECS no longer runs, or whose cluster is gone) count as
 * `Deregistered`; a record in state `withdrawn` (`withdrawTask`, renew's `withdrawn`, register's
 * `withdrawn` action) counts as `Withdrawn`; a renew summary's `repaired` as `RepairedByReconcile`,
 * `restored` as `KeysRestored`, `missing` as `MissingMarked`, `failOpen` as `FailOpenRenewed`.
 */
import { DependencyError } from './errors';
import type { DeregisterOutcome, RegisterOutcome } from './outcomes';
import type { RenewSummary } from './renew/summary';

/** Metric name → count to add. */
export type MetricCounts = Partial<Record<MetricName, number>>;

/** Every count metric the registrar emits. */
export const MetricName = {
  Registered: 'Registered',
  HeldBackPending: 'HeldBackPending',
  Withdrawn: 'Withdrawn',
  Deregistered: 'Deregistered',
  Renewed: 'Renewed',
  IgnoredStale: 'IgnoredStale',
  RepairedByReconcile: 'RepairedByReconcile',
  FailOpenRenewed: 'FailOpenRenewed',
  EcsFailures: 'EcsFailures',
  RenewTaskFailures: 'RenewTaskFailures',
  FollowUpsStarted: 'FollowUpsStarted',
  FollowUpsNotStarted: 'FollowUpsNotStarted',
  FollowUpPublished: 'FollowUpPublished',
  FollowUpWithdrawn: 'FollowUpWithdrawn',
  FollowUpRescheduled: 'FollowUpRescheduled',
  FollowUpGaveUp: 'FollowUpGaveUp',
  FollowUpRejected: 'FollowUpRejected',
  FollowUpFailed: 'FollowUpFailed',
  DrainPublished: 'DrainPublished',
  DrainCheckFailures: 'DrainCheckFailures',
  KeysRestored: 'KeysRestored',
  MissingMarked: 'MissingMarked',
  ClustersRemoved: 'ClustersRemoved',
  AmbiguousPorts: 'AmbiguousPorts',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];

/** The latency metric (milliseconds per etcd request). */
export const ETCD_LATENCY_METRIC = 'EtcdLatency';

/** Metrics of one register invocation (a dry run emits none: it changed nothing). */
export function registerMetrics(outcome: Pick<RegisterOutcome, 'action' | 'dryRun' | 'ambiguities'>): MetricCounts {
  if (outcome.dryRun) return {};
  const ambiguous = outcome.ambiguities?.length ? { AmbiguousPorts: 1 } : {};
  switch (outcome.action) {
    case 'registered':
      return { Registered: 1, ...ambiguous };
    case 'pending':
      return { HeldBackPending: 1, ...ambiguous };
    case 'withdrawn':
      return { Withdrawn: 1 };
    case 'ignored':
      return { IgnoredStale: 1 };
    case 'empty':
      return {};
  }
}

/** Metrics of a failed invocation or SQS message: ECS/EC2 failures are counted (etcd has its latency metric). */
export function failureMetrics(err: unknown): MetricCounts {
  return err instanceof DependencyError && (err.dependency === 'ecs' || err.dependency === 'ec2')
    ? { EcsFailures: 1 }
    : {};
}

/** Metrics of one deregister invocation (none for a dry run). */
export function deregisterMetrics(outcome: Pick<DeregisterOutcome, 'action' | 'dryRun'>): MetricCounts {
  return outcome.action === 'removed' && !outcome.dryRun ? { Deregistered: 1 } : {};
}

/** Metrics of one renew tick (a dry run emits none: it changed nothing). */
export function renewMetrics(summary: RenewSummary): MetricCounts {
  if (summary.dryRun) return {};
  return {
    Renewed: summary.renewed,
    Registered: summary.registered,
    RepairedByReconcile: summary.repaired,
    Deregistered: summary.removed,
    Withdrawn: summary.withdrawn,
    FailOpenRenewed: summary.failOpen,
    EcsFailures: summary.ecsFailures.length,
    RenewTaskFailures: summary.failed,
    KeysRestored: summary.restored,
    MissingMarked: summary.missing,
    ClustersRemoved: summary.clustersRemoved,
    AmbiguousPorts: summary.ambiguous,
  };
}

/** Metrics of one follow-up batch, from its per-message outcomes. */
export function followMetrics(outcomes: readonly { readonly outcome: string }[]): MetricCounts {
  const count = (outcome: string) => outcomes.filter((o) => o.outcome === outcome).length;
  return {
    FollowUpPublished: count('published'),
    FollowUpWithdrawn: count('withdrawn'),
    FollowUpRescheduled: count('again'),
    FollowUpGaveUp: count('give-up'),
    FollowUpRejected: count('rejected'),
    FollowUpFailed: count('failed'),
  };
}

/** Metrics of one drain check. */
export function drainMetrics(outcome: {
  readonly published: readonly string[];
  readonly errors: readonly string[];
}): MetricCounts {
  return { DrainPublished: outcome.published.length, DrainCheckFailures: outcome.errors.length > 0 ? 1 : 0 };
}
