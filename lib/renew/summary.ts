/**
 * What a renew tick reports: its summary and the changes it made or would make. Types only,
 * apart from the tick, so the handler, the metrics and the CLI read a summary without importing
 * renew's code (and renew's steps share one definition of a change).
 */
import type { OrphanSweep } from '../etcd/orphans';
import type { StepKind } from './plan';
import type { VerificationReport } from './verification';

/** A change a renew tick makes (or, in a dry run, would make). */
export interface PlannedChange {
  readonly taskArn: string;
  readonly action: StepKind;
  readonly reason: string;
  /** Endpoint keys written or removed (for a registration: what it publishes). */
  readonly keys?: readonly string[];
}

/** A change a renew tick made, with what came of it. */
export interface AppliedChange extends PlannedChange {
  /** `done`; `unchanged` when the write found etcd changed since the tick read it (a guard refused); `failed`. */
  readonly result: 'done' | 'unchanged' | 'failed';
}

/** One renew tick's result: counts, and exactly what failed. */
export interface RenewSummary {
  /** True when nothing was written (`DRY_RUN`): the counts say what would have happened. */
  dryRun: boolean;
  /** Task records found at the start of the tick. */
  records: number;
  /** Leases renewed with nothing else to do. */
  renewed: number;
  /** Tasks (re)written from ECS's answer: turned healthy, changed, or lease found expired. */
  registered: number;
  /** Running tasks found by ListTasks that had no record (lost events), now written. */
  repaired: number;
  /** Published tasks whose endpoint keys were missing or on another lease, rewritten from ECS's answer. */
  restored: number;
  /** Tasks removed: ECS says they stopped or are stopping (tombstoned), MISSING confirmed, or their cluster is gone. */
  removed: number;
  /** Tasks ECS answered MISSING for (and ListTasks did not list), marked and kept until a later tick confirms. */
  missing: number;
  /** Tasks whose endpoints were withdrawn because ECS says they are unhealthy. */
  withdrawn: number;
  /** Clusters ECS confirmed gone (DescribeClusters: INACTIVE or MISSING): their tasks removed, the cluster forgotten. */
  clustersRemoved: number;
  /** Leases renewed without asking ECS, because ECS failed for their cluster (fail open). */
  failOpen: number;
  /** Tasks (re)written this tick whose gRPC port was guessed among several unmarked ones (WARN logged). */
  ambiguous: number;
  /** Tasks that could not be handled this tick. */
  failed: number;
  /** What failed, per task. */
  failures: { taskArn: string; error: string }[];
  /** Clusters for which ECS failed. */
  ecsFailures: { cluster: string; error: string }[];
  /** Dry run only: every change the tick would have made (renewals not listed). */
  planned: PlannedChange[];
  /** Real run only: every change the tick made, from the same planner, with its result. */
  applied: AppliedChange[];
  /** What this tick verified with ECS under the read budget, K, and what it left for the next tick. */
  verification?: VerificationReport;
  /** This deployment's leases found holding no key, and revoked (see `lib/etcd/orphans.ts`). */
  orphanLeases?: OrphanSweep;
  /**
   * Milliseconds spent reading the task records, reading the endpoint keys (keys only) and MISSING
   * marks, renewing the leases, asking ECS about the records (DescribeTasks, DescribeClusters),
   * writing the changes, and reconciling with ListTasks; and the whole tick.
   */
  durationsMs: {
    records: number;
    keys: number;
    keepAlive: number;
    describe: number;
    changes: number;
    reconcile: number;
    total: number;
  };
}
