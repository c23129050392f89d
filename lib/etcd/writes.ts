/**
 * The registry's guarded writes. Every change to a task is one transaction guarded on what was
 * read, so no reader ever sees half a task and concurrent writers cannot interleave; what to do
 * when a guard fails is decided by the pure functions in `lib/decide.ts`.
 */
import type { ICompare, IKeyValue } from 'etcd3';
import { randomBytes } from 'node:crypto';
import {
  decideKeyClaim,
  decideWrite,
  RecordState,
  type KeyHolder,
  type TaskRecord,
  type Tombstone,
  type WriteSource,
} from '../decide';
import { ConflictError } from '../errors';
import { assertServed } from '../deployment';
import { parseClusterArn } from '../ecs/arn';
import { clusterKey, missingKey, pendingKey, recordKey, recordsPrefix, tombstoneKey } from '../keys';
import { taskLeaseName, tombstoneLeaseName, type Leases } from './leases';
import {
  absent,
  bytes,
  del,
  deleteIfOwned,
  get,
  heldBy,
  modifiedAt,
  put,
  putIfChanged,
  txn,
  unchanged,
  type EtcdContext,
} from './operations';
import { readTask } from './reads';
import {
  metadataOf,
  parseRecord,
  stateFromResponses,
  storedRef,
  type DesiredTask,
  type PendingEntry,
  type StoredRecord,
  type TaskRef,
  type TaskState,
} from './records';

/** Tries of one guarded write (the first and the re-reads after losing a race) before a ConflictError. */
const GUARDED_WRITE_TRIES = 4;

/** What the guarded writes need: etcd, and the leases they write on. */
export interface WriteContext extends EtcdContext {
  readonly leases: Leases;
}

/** Options of {@link writeTask}. */
export interface WriteOptions {
  /** Where the task comes from: decides what a same-version record means ({@link decideWrite}). */
  readonly source: WriteSource;
  /** The task's state as the caller just read it: a write the state already rules out is skipped. */
  readonly known?: TaskState;
  /** A lease from {@link Leases.grantAhead} to write under, instead of granting one here. */
  readonly granted?: Promise<string>;
}

/** Outcome of {@link writeTask}. */
export type WriteResult =
  | {
      readonly status: 'written';
      readonly leaseId: string;
      readonly keys: readonly string[];
      readonly previous?: RecordState;
      /** Endpoint keys left with another task that holds them (see {@link decideKeyClaim}), and why. */
      readonly leftOut: readonly LeftOutKey[];
    }
  | { readonly status: 'ignored'; readonly reason: 'stopped' | 'stale' | 'duplicate' };

/** An endpoint key a write left with the task that holds it. */
export interface LeftOutKey {
  readonly key: string;
  readonly reason: string;
}

/** Outcome of {@link stopTask}. */
export type StopResult =
  | { readonly status: 'removed'; readonly keys: readonly string[] }
  | { readonly status: 'tombstoned' }
  | { readonly status: 'unchanged' };

/** The pending-index keys a record holds: one per service while it is pending. */
function pendingKeys(
  statePrefix: string,
  record: Pick<TaskRecord, 'state' | 'services'>,
  ref: Pick<TaskRef, 'clusterArn' | 'taskId'>,
): string[] {
  if (record.state !== RecordState.Pending) return [];
  return (record.services ?? []).map((service) => pendingKey(statePrefix, service, ref.clusterArn, ref.taskId));
}

/**
 * Writes a started task: its record and every endpoint key on one new lease, in one transaction
 * guarded on the record being as read, no tombstone, and every endpoint key being as read (absent,
 * on the task's own lease, or held by another task the write may take it from). The warm path for
 * a new task is two round trips (grant, transaction); the transaction's failure branch returns the
 * current state, so losing a guard costs no extra read. A lease that ends up unused is given back.
 *
 * An endpoint key held by another task's lease (KEY_FORMAT=addr, a reused ip:port) is taken over
 * only when that task started earlier ({@link decideKeyClaim}); otherwise it is left with its
 * holder, reported in `leftOut`, and the rest is written.
 *
 * @throws {DependencyError} when etcd fails; {@link ConflictError} after repeated lost races.
 */
export async function writeTask(ctx: WriteContext, desired: DesiredTask, options: WriteOptions): Promise<WriteResult> {
  const { source, known, granted } = options;
  assertServed(ctx.config.deployment, desired.clusterArn);
  let current: TaskState | undefined = known;
  if (current) {
    const decision = decideAgainst(desired, source, current);
    if (!decision.write) {
      if (granted) await ctx.leases.release(granted);
      return { status: 'ignored', reason: decision.reason };
    }
  }
  const leaseId = await (granted ?? ctx.leases.grant(ctx.config.leaseTtlSeconds, { name: taskLeaseName(desired) }));
  const write: GuardedWrite = {
    ctx,
    desired,
    leaseId,
    // Tells this call's own write (applied, its answer lost, the call retried) from a concurrent
    // duplicate's write on the same derived lease.
    writeId: randomBytes(6).toString('hex'),
    holders: new Map(),
  };
  /** Each endpoint key as last read (undefined: absent); none read before the first attempt. */
  let seen: Map<string, IKeyValue | undefined> | undefined;
  let old: StoredRecord | undefined;
  try {
    for (let attempt = 0; attempt < GUARDED_WRITE_TRIES; attempt++) {
      old = current?.record;
      const { guards, written, leftOut } = await chooseKeys(write, old, seen);
      const keys = written.map((e) => e.key);
      const res = await commit(write, old, guards, written);
      if (res.succeeded) {
        if (old && old.lease !== leaseId) await ctx.leases.revoke(old.lease);
        return { status: 'written', leaseId, keys, previous: old?.record.state, leftOut };
      }
      current = stateFromResponses(res);
      seen = new Map(desired.entries.map((e, i) => [e.key, res.responses[i + 2]?.response_range.kvs[0]]));
      // A retried call whose first attempt was applied finds its own write: that is success.
      if (current.record?.lease === leaseId && current.record.record.writeId === write.writeId)
        return { status: 'written', leaseId, keys: current.record.record.keys, previous: old?.record.state, leftOut };
      const decision = decideAgainst(desired, source, current);
      if (!decision.write) {
        await ctx.leases.giveBack(leaseId);
        return { status: 'ignored', reason: decision.reason };
      }
    }
  } catch (err) {
    await ctx.leases.giveBack(leaseId);
    // If the failed transaction was applied after all (its answer lost), the task moved off its
    // old lease, which is empty now; if not, the old lease still carries the task and is kept.
    if (old && old.lease !== leaseId) await ctx.leases.giveBack(old.lease);
    throw err;
  }
  await ctx.leases.giveBack(leaseId);
  throw new ConflictError(`task ${desired.taskArn}: record changed under ${GUARDED_WRITE_TRIES} attempts to write it`);
}

/** What every attempt of one {@link writeTask} shares. */
interface GuardedWrite {
  readonly ctx: WriteContext;
  readonly desired: DesiredTask;
  readonly leaseId: string;
  readonly writeId: string;
  /** Who holds a key, by `key@mod_revision`: looked up once across attempts. */
  readonly holders: Map<string, Promise<KeyHolder>>;
}

/** Whether the write goes ahead against the state as read ({@link decideWrite}). */
function decideAgainst(desired: DesiredTask, source: WriteSource, current: TaskState) {
  return decideWrite(
    { version: desired.version, source },
    { record: current.record?.record, tombstone: current.tombstone?.tombstone },
  );
}

/** The endpoint keys this attempt writes with the guard of each, and the keys left with their holder. */
async function chooseKeys(
  write: GuardedWrite,
  old: StoredRecord | undefined,
  seen: ReadonlyMap<string, IKeyValue | undefined> | undefined,
): Promise<{ guards: ICompare[]; written: { key: string; value: string }[]; leftOut: LeftOutKey[] }> {
  const { ctx, desired, leaseId, holders } = write;
  const guards: ICompare[] = [];
  const written: { key: string; value: string }[] = [];
  const leftOut: LeftOutKey[] = [];
  for (const entry of desired.entries) {
    const own = (lease: string) => lease === leaseId || lease === old?.lease;
    const listed = old?.record.keys.includes(entry.key) ? old.lease : undefined;
    if (!seen) {
      // First attempt, nothing read: expect the key absent, or on the task's own lease when its
      // record lists it. Anything else fails the guard and the failure branch reads the key.
      guards.push(listed === undefined ? absent(entry.key) : heldBy(entry.key, listed));
      written.push(entry);
      continue;
    }
    const kv = seen.get(entry.key);
    if (kv && !own(kv.lease)) {
      const cacheKey = `${entry.key}@${kv.mod_revision}`;
      if (!holders.has(cacheKey)) holders.set(cacheKey, holderOf(ctx, kv));
      const claim = decideKeyClaim(
        { taskArn: desired.taskArn, startedAt: desired.startedAt },
        await holders.get(cacheKey)!,
      );
      if (!claim.take) {
        leftOut.push({ key: entry.key, reason: claim.reason });
        continue;
      }
    }
    guards.push(unchanged(entry.key, kv?.mod_revision));
    written.push(entry);
  }
  return { guards, written, leftOut };
}

/** One guarded transaction: the record, the chosen keys and the pending listing, the old record's leftovers deleted. */
async function commit(
  write: GuardedWrite,
  old: StoredRecord | undefined,
  guards: readonly ICompare[],
  written: readonly { key: string; value: string }[],
) {
  const { ctx, desired, leaseId } = write;
  const { statePrefix } = ctx.config;
  const rKey = recordKey(statePrefix, desired.clusterArn, desired.taskId);
  const tKey = tombstoneKey(statePrefix, desired.clusterArn, desired.taskId);
  const keys = written.map((e) => e.key);
  const record: TaskRecord = {
    taskArn: desired.taskArn,
    clusterArn: desired.clusterArn,
    version: desired.version,
    state: desired.state,
    leaseId,
    keys,
    taskDefinitionArn: desired.taskDefinitionArn,
    gatedContainers: desired.gatedContainers,
    ...(desired.services ? { services: desired.services } : {}),
    updatedAt: new Date().toISOString(),
    ...(desired.startedAt === undefined ? {} : { startedAt: desired.startedAt }),
    writeId: write.writeId,
    ...(desired.ports && desired.ports.length > 0 ? { ports: desired.ports } : {}),
  };
  const oldLease = old?.lease;
  const listed = pendingKeys(statePrefix, record, desired);
  const listing = JSON.stringify({
    taskArn: desired.taskArn,
    clusterArn: desired.clusterArn,
    gatedContainers: desired.gatedContainers,
  } satisfies PendingEntry);
  const stale = old
    ? [...old.record.keys, ...pendingKeys(statePrefix, old.record, desired)]
        .filter((k) => !keys.includes(k) && !listed.includes(k))
        .map((k) => deleteIfOwned(k, oldLease!))
    : [];
  return txn(
    ctx,
    'register transaction',
    [unchanged(rKey, old?.modRevision), absent(tKey), ...guards],
    [
      put(rKey, JSON.stringify(record), leaseId),
      ...written.map((e) => put(e.key, e.value, leaseId)),
      ...listed.map((k) => put(k, listing, leaseId)),
      ...stale,
      // Written once per cluster, not once per task: etcd adds no revision for an unchanged key.
      putIfChanged(clusterKey(statePrefix, desired.clusterArn), desired.clusterArn),
    ],
    [get(rKey), get(tKey), ...desired.entries.map((e) => get(e.key))],
  );
}

/**
 * Who holds an endpoint key on a lease that is not the writing task's: the task whose record hangs
 * on the same lease (every key of a task shares its record's lease), else what the value's
 * metadata says (`etcd-naming` values carry the task ARN and start time). Formats without
 * metadata (`addr`, `json`) depend on the record; a key on no lease or a lease without a record
 * has no task holder.
 */
async function holderOf(ctx: EtcdContext, kv: IKeyValue): Promise<KeyHolder> {
  let fromRecord: KeyHolder = {};
  if (kv.lease !== '0') {
    const lease = await ctx.call('lease keys', () =>
      ctx.client.leaseClient.leaseTimeToLive({ ID: kv.lease, keys: true }),
    );
    const recordKeyOnLease = lease.keys
      .map((k) => k.toString())
      .find((k) => k.startsWith(recordsPrefix(ctx.config.statePrefix)));
    if (recordKeyOnLease) {
      const res = await ctx.call('read key holder', () => ctx.client.kv.range({ key: bytes(recordKeyOnLease) }));
      const holderKv = res.kvs[0];
      if (holderKv) {
        try {
          const { record } = parseRecord(holderKv);
          fromRecord = { taskArn: record.taskArn, startedAt: record.startedAt };
        } catch {
          // Unreadable record: fall back to the value's metadata.
        }
      }
    }
  }
  if (fromRecord.startedAt !== undefined) return fromRecord;
  const fromValue = metadataOf(kv.value.toString());
  if (fromValue.taskArn !== undefined && (fromRecord.taskArn === undefined || fromRecord.taskArn === fromValue.taskArn))
    return fromValue;
  return fromRecord;
}

/**
 * Removes a stopping task: in one transaction writes its tombstone (on its own long lease),
 * deletes its record and deletes each endpoint key that still hangs on the task's lease, then
 * revokes that lease. Idempotent: a second stop finds the tombstone and changes nothing.
 *
 * @throws {DependencyError} when etcd fails; {@link ConflictError} after repeated lost races.
 */
export async function stopTask(
  ctx: WriteContext,
  ref: TaskRef,
  version: number,
  stoppedAt: string,
): Promise<StopResult> {
  const { statePrefix } = ctx.config;
  assertServed(ctx.config.deployment, ref.clusterArn);
  const rKey = recordKey(statePrefix, ref.clusterArn, ref.taskId);
  const tKey = tombstoneKey(statePrefix, ref.clusterArn, ref.taskId);
  let current = await readTask(ctx, ref);
  let tombstoneLease: string | undefined;
  let record: StoredRecord | undefined;
  try {
    for (let attempt = 0; attempt < GUARDED_WRITE_TRIES; attempt++) {
      const { tombstone } = current;
      record = current.record;
      if (tombstone && !record) {
        // Given back only if empty: a duplicate stop may have written the tombstone on this very lease.
        if (tombstoneLease) await ctx.leases.giveBack(tombstoneLease);
        return { status: 'unchanged' };
      }
      tombstoneLease ??= await ctx.leases.grant(ctx.config.tombstoneTtlSeconds, {
        name: tombstoneLeaseName(ref.taskArn),
      });
      const value: Tombstone = {
        taskArn: ref.taskArn,
        version: Math.max(version, tombstone?.tombstone.version ?? 0),
        stoppedAt,
      };
      const res = await txn(
        ctx,
        'deregister transaction',
        [unchanged(rKey, record?.modRevision), unchanged(tKey, tombstone?.modRevision)],
        [
          put(tKey, JSON.stringify(value), tombstoneLease),
          ...(record
            ? [
                del(rKey),
                ...[...record.record.keys, ...pendingKeys(statePrefix, record.record, ref)].map((k) =>
                  deleteIfOwned(k, record!.lease),
                ),
              ]
            : []),
        ],
        [get(rKey), get(tKey)],
      );
      if (res.succeeded) {
        if (record) await ctx.leases.revoke(record.lease);
        return record ? { status: 'removed', keys: record.record.keys } : { status: 'tombstoned' };
      }
      current = stateFromResponses(res);
    }
  } catch (err) {
    if (tombstoneLease) await ctx.leases.giveBack(tombstoneLease);
    // Emptied if the failed transaction was applied after all (its answer lost); else kept.
    if (record) await ctx.leases.giveBack(record.lease);
    throw err;
  }
  if (tombstoneLease) await ctx.leases.giveBack(tombstoneLease);
  throw new ConflictError(`task ${ref.taskArn}: record changed under ${GUARDED_WRITE_TRIES} attempts to remove it`);
}

/**
 * Withdraws an unhealthy task's endpoints but keeps its record (state `withdrawn`, same lease),
 * so renew keeps watching it and publishes it again once healthy.
 *
 * @returns false when the record changed since it was read (the next tick decides again).
 */
export async function withdrawTask(ctx: EtcdContext, stored: StoredRecord, version: number): Promise<boolean> {
  const { record } = stored;
  const next: TaskRecord = {
    ...record,
    version: Math.max(version, record.version),
    state: RecordState.Withdrawn,
    keys: [],
    updatedAt: new Date().toISOString(),
  };
  const listing = pendingKeys(ctx.config.statePrefix, stored.record, storedRef(stored));
  const res = await txn(
    ctx,
    'withdraw transaction',
    [modifiedAt(stored.key, stored.modRevision)],
    [
      put(stored.key, JSON.stringify(next), stored.lease),
      ...[...record.keys, ...listing].map((k) => deleteIfOwned(k, stored.lease)),
    ],
    [],
  );
  return res.succeeded;
}

/** Forgets a cluster that no longer exists. */
export async function forgetCluster(ctx: EtcdContext, clusterArn: string): Promise<void> {
  // A cluster named only by CLUSTERS in a local run (no account or region) was never written under a key.
  if (!parseClusterArn(clusterArn)) return;
  await ctx.call('forget cluster', () =>
    ctx.client.kv.deleteRange({ key: bytes(clusterKey(ctx.config.statePrefix, clusterArn)) }),
  );
}

/**
 * Marks a task ECS answered MISSING for, on the task's own lease (so it goes with the task),
 * guarded on the record being as read.
 *
 * @returns false when the record changed since it was read (the next tick decides again).
 */
export async function markMissing(ctx: EtcdContext, stored: StoredRecord, firstSeen: string): Promise<boolean> {
  const ref = storedRef(stored);
  const mark = { taskArn: ref.taskArn, firstSeen };
  const res = await txn(
    ctx,
    'mark missing',
    [modifiedAt(stored.key, stored.modRevision)],
    [put(missingKey(ctx.config.statePrefix, ref.clusterArn, ref.taskId), JSON.stringify(mark), stored.lease)],
    [],
  );
  return res.succeeded;
}

/** Deletes a task's MISSING mark (ECS describes or lists the task again). */
export async function clearMissing(ctx: EtcdContext, ref: Pick<TaskRef, 'clusterArn' | 'taskId'>): Promise<void> {
  await ctx.call('clear missing mark', () =>
    ctx.client.kv.deleteRange({ key: bytes(missingKey(ctx.config.statePrefix, ref.clusterArn, ref.taskId)) }),
  );
}

/**
 * Removes a task without a tombstone (ECS does not know it, or its cluster is gone): deletes its
 * record, its MISSING mark and each endpoint key still on its lease in one transaction guarded
 * on the record being as read, then revokes the lease. Without a tombstone, a task removed by
 * mistake is registered again by the next event or reconcile.
 *
 * @returns false when the record changed since it was read (nothing removed).
 */
export async function removeTask(ctx: WriteContext, stored: StoredRecord): Promise<boolean> {
  const ref = storedRef(stored);
  const res = await txn(
    ctx,
    'remove transaction',
    [modifiedAt(stored.key, stored.modRevision)],
    [
      del(stored.key),
      del(missingKey(ctx.config.statePrefix, ref.clusterArn, ref.taskId)),
      ...stored.record.keys.map((k) => deleteIfOwned(k, stored.lease)),
    ],
    [],
  );
  if (res.succeeded) await ctx.leases.revoke(stored.lease);
  return res.succeeded;
}
