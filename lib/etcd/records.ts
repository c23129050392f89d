/**
 * What the registry stores about a task, and how it is read back: the record, tombstone, MISSING
 * mark and pending-listing shapes, their schemas, and parsing from etcd's key-values.
 */
import type { IKeyValue, ITxnResponse } from 'etcd3';
import type { KeyHolder } from '../decide';
import { stateKeyParts } from '../keys';
import type { PortChoice } from '../port-selection';
import {
  missingMarkSchema,
  pendingEntrySchema,
  taskRecordSchema,
  tombstoneSchema,
  type MissingMark,
  type PendingEntry,
  type RecordState,
  type StoredRecord,
  type Tombstone,
} from '../task-record';

export type { MissingMark, PendingEntry, StoredRecord } from '../task-record';

/** Identifies one task in the registry. */
export interface TaskRef {
  readonly taskArn: string;
  readonly taskId: string;
  readonly clusterArn: string;
  readonly clusterName: string;
}

/** The four fields that identify a task in the registry (nothing else of a larger object). */
export function refOf(task: TaskRef): TaskRef {
  return { taskArn: task.taskArn, taskId: task.taskId, clusterArn: task.clusterArn, clusterName: task.clusterName };
}

/** What etcd holds about one task. */
export interface TaskState {
  readonly record?: StoredRecord;
  readonly tombstone?: { readonly tombstone: Tombstone; readonly modRevision: string; readonly lease: string };
}

/** The state a started task should be written in. */
export interface DesiredTask extends TaskRef {
  readonly version: number;
  readonly state: RecordState;
  readonly taskDefinitionArn: string;
  readonly gatedContainers: readonly string[];
  /** When ECS started the task: decides who keeps an endpoint key two tasks claim (KEY_FORMAT=addr). */
  readonly startedAt?: string;
  /** Services the task publishes, or will once healthy (kept in the record; pending tasks are listed under each). */
  readonly services?: readonly string[];
  /** The ports chosen and why (kept in the record for `show` and `check`). */
  readonly ports?: readonly PortChoice[];
  /** Endpoint keys and values; empty unless `state` is registered. */
  readonly entries: readonly { readonly key: string; readonly value: string }[];
}

/** The task a stored record is of (cluster name and task id are the record key's last segments). */
export function storedRef(stored: StoredRecord): TaskRef {
  const { clusterName, taskId } = stateKeyParts(stored.key);
  return { taskArn: stored.record.taskArn, clusterArn: stored.record.clusterArn, clusterName, taskId };
}

/** Parses a stored record; throws on a value this code did not write. */
export function parseRecord(kv: IKeyValue): StoredRecord {
  return {
    key: kv.key.toString(),
    record: taskRecordSchema.parse(JSON.parse(kv.value.toString())),
    modRevision: kv.mod_revision,
    lease: kv.lease,
  };
}

/** Parses a task's record and tombstone, either absent; throws on a value this code did not write. */
function parseState(recordKv: IKeyValue | undefined, tombstoneKv: IKeyValue | undefined): TaskState {
  return {
    record: recordKv && parseRecord(recordKv),
    tombstone: tombstoneKv && {
      tombstone: tombstoneSchema.parse(JSON.parse(tombstoneKv.value.toString())),
      modRevision: tombstoneKv.mod_revision,
      lease: tombstoneKv.lease,
    },
  };
}

/** The task state read by a transaction whose first two operations get the record and the tombstone. */
export function stateFromResponses(res: ITxnResponse): TaskState {
  const [recordRes, tombstoneRes] = res.responses;
  return parseState(recordRes?.response_range.kvs[0], tombstoneRes?.response_range.kvs[0]);
}

/** A MISSING mark's value, or undefined when it is not one (throws on a value that is not JSON). */
export function parseMissingMark(value: string): MissingMark | undefined {
  const parsed = missingMarkSchema.safeParse(JSON.parse(value));
  return parsed.success ? parsed.data : undefined;
}

/** A pending listing's value, or undefined when it is not one. */
export function parsePendingEntry(value: string): PendingEntry | undefined {
  const entry = pendingEntrySchema.safeParse(safeJson(value));
  return entry.success ? entry.data : undefined;
}

/** Task ARN and start time from an `etcd-naming` value's Metadata; nothing for other formats. */
export function metadataOf(value: string): KeyHolder {
  try {
    const meta = JSON.parse((JSON.parse(value) as { Metadata?: unknown }).Metadata as string) as {
      taskArn?: unknown;
      startedAt?: unknown;
    };
    return {
      taskArn: typeof meta.taskArn === 'string' ? meta.taskArn : undefined,
      startedAt: typeof meta.startedAt === 'string' ? meta.startedAt : undefined,
    };
  } catch {
    return {};
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
