/**
 * What the registrar keeps in etcd about a task: the record, the tombstone, the MISSING mark and
 * the pending listing. Each shape is its schema, and its type is inferred from it, so the type the
 * decisions read and the check a stored value passes cannot drift apart. A leaf: the pure
 * decisions (decide.ts, renew/plan.ts) and the etcd adapter (etcd/records.ts parses with these
 * schemas) both import it.
 */
import * as z from 'zod/mini';
import { ChoiceRule } from './port-selection';

/** What the registry currently publishes for a task. */
export const RecordState = {
  /** Endpoint keys are written. */
  Registered: 'registered',
  /** Health-gated: waiting for ECS to report HEALTHY; no endpoint keys yet. */
  Pending: 'pending',
  /** ECS reported UNHEALTHY: endpoint keys removed, the task is still watched. */
  Withdrawn: 'withdrawn',
  /** The task exposes no endpoint (no ports, or every container skipped): tracked, nothing published. */
  Empty: 'empty',
} as const;
export type RecordState = (typeof RecordState)[keyof typeof RecordState];

/** A parsed value as the code reads it: every field and array read-only. */
type Stored<T> = T extends readonly (infer U)[]
  ? readonly Stored<U>[]
  : T extends object
    ? { readonly [K in keyof T]: Stored<T[K]> }
    : T;

/** Schema of a {@link TaskRecord}. */
export const taskRecordSchema = z.object({
  taskArn: z.string(),
  clusterArn: z.string(),
  /** `detail.version` of the newest state applied. */
  version: z.int(),
  state: z.enum([RecordState.Registered, RecordState.Pending, RecordState.Withdrawn, RecordState.Empty]),
  /** The task's lease (decimal string: lease IDs are 64-bit). */
  leaseId: z.string(),
  /** Endpoint keys written for this task (all on `leaseId`). */
  keys: z.array(z.string()),
  taskDefinitionArn: z.string(),
  /** Containers whose health check gates registration. */
  gatedContainers: z.array(z.string()),
  /**
   * Services the task publishes (or will, once healthy): a drain looks up the pending tasks of the
   * stopping task's services. Absent in records written before it existed.
   */
  services: z.optional(z.array(z.string())),
  /** ISO time of the last write. */
  updatedAt: z.string(),
  /** When ECS started the task (absent in records written before it was kept). */
  startedAt: z.optional(z.string()),
  /** Random tag of the write that stored this record, so a retried write recognises its own. */
  writeId: z.optional(z.string()),
  /**
   * The ports chosen for the task and the rule that chose each (`show` and `check` explain them).
   * Absent in records written before it was kept.
   */
  ports: z.optional(
    z.array(
      z.object({
        service: z.string(),
        container: z.string(),
        containerPort: z.int(),
        rule: z.enum(Object.values(ChoiceRule) as [ChoiceRule, ...ChoiceRule[]]),
        /** Why, for people. */
        reason: z.string(),
      }),
    ),
  ),
});
/** The registrar's record of one task, stored under `<STATE_PREFIX>/tasks/<cluster>/<task-id>` on the task's lease. */
export type TaskRecord = Stored<z.infer<typeof taskRecordSchema>>;

/** Schema of a {@link Tombstone}. */
export const tombstoneSchema = z.object({ taskArn: z.string(), version: z.int(), stoppedAt: z.string() });
/** The memory of a stopped task, so late or redelivered RUNNING events change nothing. */
export type Tombstone = Stored<z.infer<typeof tombstoneSchema>>;

/** Schema of a {@link MissingMark}. */
export const missingMarkSchema = z.object({
  taskArn: z.string(),
  /** ISO time of the tick that first saw it MISSING. */
  firstSeen: z.string(),
});
/** A MISSING mark: renew saw ECS answer MISSING for the task (and ListTasks not list it) since `firstSeen`. */
export type MissingMark = Stored<z.infer<typeof missingMarkSchema>>;

/** Schema of a {@link PendingEntry}. */
export const pendingEntrySchema = z.object({
  taskArn: z.string(),
  clusterArn: z.string(),
  gatedContainers: z.array(z.string()),
});
/** A pending task as listed under a service it will publish (see `Registry.pendingTasks`). */
export type PendingEntry = Stored<z.infer<typeof pendingEntrySchema>>;

/** A task record as stored, with the etcd facts guards need. */
export interface StoredRecord {
  readonly key: string;
  readonly record: TaskRecord;
  readonly modRevision: string;
  /** The lease the record hangs on (the task's lease). */
  readonly lease: string;
}
