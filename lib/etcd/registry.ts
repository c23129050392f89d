/**
 * The registry's etcd transactions. Every change to a task is one transaction guarded on what was
 * read, so no reader ever sees half a task and concurrent writers cannot interleave; what to do
 * when a guard fails is decided by the pure functions in `lib/decide.ts`.
 */
import {
  CompareResult,
  CompareTarget,
  type Etcd3,
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  type ICompare,
  type IKeyValue,
  type IRequestOp,
  type ITxnResponse,
} from 'etcd3';
import * as z from 'zod/mini';
import type { Config } from '../config';
import { decideWrite, RecordState, type TaskRecord, type Tombstone, type WriteSource } from '../decide';
import { ConflictError, DependencyError, errorMessage } from '../errors';
import { missingKey, missingPrefix, recordKey, recordsPrefix, tombstoneKey } from '../keys';
import { callDeadline } from './client';

/** Identifies one task in the registry. */
export interface TaskRef {
  readonly taskArn: string;
  readonly taskId: string;
  readonly clusterArn: string;
  readonly clusterName: string;
}

/** A task record as stored, with the etcd facts guards need. */
export interface StoredRecord {
  readonly key: string;
  readonly record: TaskRecord;
  readonly modRevision: string;
  /** The lease the record hangs on (the task's lease). */
  readonly lease: string;
}

/** What etcd holds about one task. */
export interface TaskState {
  readonly record?: StoredRecord;
  readonly tombstone?: { readonly tombstone: Tombstone; readonly modRevision: string };
}

/** The state a started task should be written in. */
export interface DesiredTask extends TaskRef {
  readonly version: number;
  readonly state: RecordState;
  readonly taskDefinitionArn: string;
  readonly gatedContainers: readonly string[];
  /** Endpoint keys and values; empty unless `state` is registered. */
  readonly entries: readonly { readonly key: string; readonly value: string }[];
}

/** A MISSING mark: renew saw ECS answer MISSING for the task (and ListTasks not list it) since `firstSeen`. */
export interface MissingMark {
  readonly taskArn: string;
  /** ISO time of the tick that first saw it MISSING. */
  readonly firstSeen: string;
}

/** The task a stored record is of (cluster name and task id are the record key's last segments). */
export function storedRef(stored: StoredRecord): TaskRef {
  const parts = stored.key.split('/');
  return { taskArn: stored.record.taskArn, clusterArn: stored.record.clusterArn, clusterName: parts[parts.length - 2]!, taskId: parts[parts.length - 1]! };
}

/** Outcome of {@link Registry.writeTask}. */
export type WriteResult =
  | { readonly status: 'written'; readonly leaseId: string; readonly keys: readonly string[]; readonly previous?: RecordState }
  | { readonly status: 'ignored'; readonly reason: 'stopped' | 'stale' | 'duplicate' };

/** Outcome of {@link Registry.stopTask}. */
export type StopResult =
  | { readonly status: 'removed'; readonly keys: readonly string[] }
  | { readonly status: 'tombstoned' }
  | { readonly status: 'unchanged' };

const recordSchema = z.object({
  taskArn: z.string(),
  clusterArn: z.string(),
  version: z.int(),
  state: z.enum([RecordState.Registered, RecordState.Pending, RecordState.Withdrawn, RecordState.Empty]),
  leaseId: z.string(),
  keys: z.array(z.string()),
  taskDefinitionArn: z.string(),
  gatedContainers: z.array(z.string()),
  updatedAt: z.string(),
});
const tombstoneSchema = z.object({ taskArn: z.string(), version: z.int(), stoppedAt: z.string() });
const missingMarkSchema = z.object({ taskArn: z.string(), firstSeen: z.string() });

/** Most operations in one etcd transaction (etcd's default `--max-txn-ops` is 128). */
const TXN_OPS = 100;

/** How many times a guarded write re-reads and retries after losing a race. */
const MAX_ATTEMPTS = 4;

/** How long a revoke that cannot reach etcd is tried again (etcd3 stops calling a failing host for 5 s). */
const REVOKE_RETRY_MS = 6000;

/** Most leases remembered for a later revoke; past that they are left to expire by their TTL. */
const MAX_UNREVOKED = 1000;

const bytes = (s: string) => Buffer.from(s, 'utf8');
const absent = (key: string): ICompare => ({ key: bytes(key), target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 });
const modifiedAt = (key: string, rev: string): ICompare => ({ key: bytes(key), target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: rev });
const unchanged = (key: string, rev: string | undefined) => (rev === undefined ? absent(key) : modifiedAt(key, rev));
const put = (key: string, value: string, lease?: string): IRequestOp => ({ request_put: { key: bytes(key), value: bytes(value), lease } });
const get = (key: string): IRequestOp => ({ request_range: { key: bytes(key) } });
const del = (key: string): IRequestOp => ({ request_delete_range: { key: bytes(key) } });
/** Writes `value` at `key` only when the key does not hold it yet, so an unchanged key keeps its revision. */
const putIfChanged = (key: string, value: string): IRequestOp => ({
  request_txn: { compare: [{ key: bytes(key), target: CompareTarget.Value, result: CompareResult.Equal, value: bytes(value) }], success: [], failure: [put(key, value)] },
});
/** Deletes a key only while it still hangs on `lease`: a newer task may own the same key (IP reuse). */
const deleteIfOwned = (key: string, lease: string): IRequestOp => ({
  request_txn: { compare: [{ key: bytes(key), target: CompareTarget.Lease, result: CompareResult.Equal, lease }], success: [del(key)], failure: [] },
});

/** Smallest key greater than every key with this prefix. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, 'utf8');
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * Says what an etcd client error means for the operator, keeping the original text. etcd3 does not
 * always type auth failures (they can arrive as plain gRPC errors), so etcd's own fixed server
 * messages are recognised too.
 */
function explainEtcdError(err: unknown): string {
  const message = errorMessage(err);
  if ((err as { isBrokenCircuitError?: boolean } | null)?.isBrokenCircuitError)
    return `etcd is unreachable: recent calls failed, so the client is not calling it for a few seconds (${message})`;
  if (err instanceof EtcdAuthenticationFailedError || message.includes('etcdserver: authentication failed'))
    return `etcd rejected the user name or password (${message})`;
  if (err instanceof EtcdPermissionDeniedError || message.includes('etcdserver: permission denied'))
    return `etcd denied permission: the user's roles do not grant read/write on REGISTRY_PREFIX and STATE_PREFIX (${message})`;
  if (err instanceof GRPCDeadlineExceededError) return `etcd did not answer before the deadline (${message})`;
  if (err instanceof GRPCUnavailableError) return `etcd is unavailable (${message})`;
  return message;
}

/** Runs an etcd call, turning any failure into a {@link DependencyError} that says so. */
export async function etcdCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DependencyError) throw err;
    throw new DependencyError('etcd', `${what} failed: ${explainEtcdError(err)}`, { cause: err });
  }
}

/** Optional hooks of a {@link Registry}. */
export interface RegistryOptions {
  /** Told the duration of every etcd request the registry makes (for latency metrics). */
  readonly observe?: (operation: string, ms: number) => void;
  /** Asked why etcd is unavailable (e.g. a TLS handshake failure), when it is. */
  readonly diagnose?: () => Promise<string | undefined>;
}

/** The registry: task records, tombstones and endpoint keys in etcd. */
export class Registry {
  /** Leases a revoke could not reach etcd for, revoked on a later grant (see {@link Registry.revoke}). */
  private readonly unrevoked = new Set<string>();

  constructor(
    /** The etcd client the registry writes through. */
    readonly client: Etcd3,
    private readonly config: Pick<Config, 'statePrefix' | 'leaseTtlSeconds' | 'tombstoneTtlSeconds'>,
    private readonly options: RegistryOptions = {},
  ) {}

  /** Runs one etcd request, timed for `observe`, failures turned into a {@link DependencyError}. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await etcdCall(what, fn);
    } catch (err) {
      // "Unavailable" hides TLS failures (grpc-js reports no cause): look closer before reporting.
      const diagnosis = err instanceof DependencyError && err.cause instanceof GRPCUnavailableError ? await this.options.diagnose?.() : undefined;
      if (diagnosis) throw new DependencyError('etcd', `${what} failed: ${diagnosis}`, { cause: err });
      throw err;
    } finally {
      this.options.observe?.(what, performance.now() - started);
    }
  }

  private recordKey(ref: Pick<TaskRef, 'clusterName' | 'taskId'>) {
    return recordKey(this.config.statePrefix, ref.clusterName, ref.taskId);
  }

  private tombstoneKey(ref: Pick<TaskRef, 'clusterName' | 'taskId'>) {
    return tombstoneKey(this.config.statePrefix, ref.clusterName, ref.taskId);
  }

  /** Key under which a cluster served by the registrar is remembered (outlives every lease). */
  clusterKey(clusterName: string): string {
    return `${this.config.statePrefix}/clusters/${clusterName}`;
  }

  private txn(what: string, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[]): Promise<ITxnResponse> {
    return this.call(what, () => this.client.kv.txn({ compare, success, failure }));
  }

  /** Grants a lease of `ttl` seconds and returns its ID. */
  async grant(ttl: number): Promise<string> {
    if (this.unrevoked.size > 0) await this.revokeLeftovers();
    const res = await this.call('lease grant', () => this.client.leaseClient.leaseGrant({ TTL: ttl }));
    return res.ID;
  }

  /**
   * Starts granting a task lease ahead of knowing whether it will be needed, so the round trip
   * overlaps other work. The result goes to {@link writeTask}, or back through {@link release}.
   */
  grantAhead(): Promise<string> {
    const granted = this.grant(this.config.leaseTtlSeconds);
    // Whoever takes the lease sees a failure; until then it must not count as unhandled.
    granted.catch(() => undefined);
    return granted;
  }

  /**
   * Gives back a lease from {@link grantAhead} that turned out not to be needed. Awaited by callers:
   * a Lambda container is frozen when the handler returns, so a revoke left in flight may never leave.
   */
  async release(granted: Promise<string>): Promise<void> {
    const leaseId = await granted.catch(() => undefined);
    if (leaseId !== undefined) await this.revoke(leaseId);
  }

  /**
   * Revokes a lease, deleting what hangs on it. Best effort: an already expired lease is fine, and
   * an unreachable etcd is tried again for a few seconds (long enough for etcd3's circuit breaker to
   * let calls through after a leader election). If etcd stays unreachable, the lease is remembered
   * and revoked by a later grant of this process, if it is still empty; else it expires by its TTL.
   */
  async revoke(leaseId: string): Promise<void> {
    const deadline = callDeadline(REVOKE_RETRY_MS);
    for (let pause = 200; ; pause = Math.min(pause * 2, 2000)) {
      try {
        await this.client.leaseClient.leaseRevoke({ ID: leaseId }, { deadline });
        return;
      } catch (err) {
        if (err instanceof EtcdLeaseInvalidError) return;
        if (Date.now() + pause >= deadline) {
          if (this.unrevoked.size < MAX_UNREVOKED) this.unrevoked.add(leaseId);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  /** Revokes the leases an earlier revoke could not reach etcd for, unless a write landed on them. */
  private async revokeLeftovers(): Promise<void> {
    for (const id of [...this.unrevoked]) {
      try {
        // The write whose failure led to the revoke may have been applied after all (its answer
        // lost): then the lease carries a task and its record, and is that task's lease now.
        const lease = await this.client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
        if (Number(lease.TTL) > 0 && lease.keys.length === 0) await this.client.leaseClient.leaseRevoke({ ID: id });
        this.unrevoked.delete(id);
      } catch (err) {
        if (!(err instanceof EtcdLeaseInvalidError)) return; // still unreachable: a later grant tries again
        this.unrevoked.delete(id);
      }
    }
  }

  private parseState(recordKv: IKeyValue | undefined, tombstoneKv: IKeyValue | undefined): TaskState {
    return {
      record: recordKv && this.parseRecord(recordKv),
      tombstone: tombstoneKv && { tombstone: tombstoneSchema.parse(JSON.parse(tombstoneKv.value.toString())), modRevision: tombstoneKv.mod_revision },
    };
  }

  /** Parses a stored record; throws on a value this code did not write. */
  parseRecord(kv: IKeyValue): StoredRecord {
    return { key: kv.key.toString(), record: recordSchema.parse(JSON.parse(kv.value.toString())), modRevision: kv.mod_revision, lease: kv.lease };
  }

  private stateFromFailure(res: ITxnResponse): TaskState {
    const [recordRes, tombstoneRes] = res.responses;
    return this.parseState(recordRes?.response_range.kvs[0], tombstoneRes?.response_range.kvs[0]);
  }

  /** Reads a task's record and tombstone in one round trip. */
  async readTask(ref: Pick<TaskRef, 'clusterName' | 'taskId'>): Promise<TaskState> {
    const res = await this.txn('read task', [], [get(this.recordKey(ref)), get(this.tombstoneKey(ref))], []);
    return this.stateFromFailure(res);
  }

  /**
   * Writes a started task: its record and every endpoint key on one new lease, in one transaction
   * guarded on the record being as read and no tombstone. The warm path for a new task is two
   * round trips (grant, transaction); the transaction's failure branch returns the current state,
   * so losing a guard costs no extra read. A lease that ends up unused is revoked.
   *
   * @param granted a lease from {@link grantAhead} to write under, instead of granting one here.
   * @throws {DependencyError} when etcd fails; {@link ConflictError} after repeated lost races.
   */
  async writeTask(desired: DesiredTask, source: WriteSource, known?: TaskState, granted?: Promise<string>): Promise<WriteResult> {
    const rKey = this.recordKey(desired);
    const tKey = this.tombstoneKey(desired);
    let current: TaskState | undefined = known;
    if (current) {
      const decision = decideWrite({ version: desired.version, source }, { record: current.record?.record, tombstone: current.tombstone?.tombstone });
      if (!decision.write) {
        if (granted) await this.release(granted);
        return { status: 'ignored', reason: decision.reason };
      }
    }
    const leaseId = await (granted ?? this.grant(this.config.leaseTtlSeconds));
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const old = current?.record;
        const keys = desired.entries.map((e) => e.key);
        const record: TaskRecord = {
          taskArn: desired.taskArn,
          clusterArn: desired.clusterArn,
          version: desired.version,
          state: desired.state,
          leaseId,
          keys,
          taskDefinitionArn: desired.taskDefinitionArn,
          gatedContainers: desired.gatedContainers,
          updatedAt: new Date().toISOString(),
        };
        const stale = old ? old.record.keys.filter((k) => !keys.includes(k)).map((k) => deleteIfOwned(k, old.lease)) : [];
        const res = await this.txn(
          'register transaction',
          [unchanged(rKey, old?.modRevision), absent(tKey)],
          [
            put(rKey, JSON.stringify(record), leaseId),
            ...desired.entries.map((e) => put(e.key, e.value, leaseId)),
            ...stale,
            // Written once per cluster, not once per task: etcd adds no revision for an unchanged key.
            putIfChanged(this.clusterKey(desired.clusterName), desired.clusterArn),
          ],
          [get(rKey), get(tKey)],
        );
        if (res.succeeded) {
          if (old && old.lease !== leaseId) await this.revoke(old.lease);
          return { status: 'written', leaseId, keys, previous: old?.record.state };
        }
        current = this.stateFromFailure(res);
        // A retried call whose first attempt was applied finds our own write: that is success.
        if (current.record?.lease === leaseId) return { status: 'written', leaseId, keys, previous: old?.record.state };
        const decision = decideWrite({ version: desired.version, source }, { record: current.record?.record, tombstone: current.tombstone?.tombstone });
        if (!decision.write) {
          await this.revoke(leaseId);
          return { status: 'ignored', reason: decision.reason };
        }
      }
    } catch (err) {
      await this.revoke(leaseId);
      throw err;
    }
    await this.revoke(leaseId);
    throw new ConflictError(`task ${desired.taskArn}: record changed under ${MAX_ATTEMPTS} attempts to write it`);
  }

  /**
   * Removes a stopping task: in one transaction writes its tombstone (on its own long lease),
   * deletes its record and deletes each endpoint key that still hangs on the task's lease, then
   * revokes that lease. Idempotent: a second stop finds the tombstone and changes nothing.
   *
   * @throws {DependencyError} when etcd fails; {@link ConflictError} after repeated lost races.
   */
  async stopTask(ref: TaskRef, version: number, stoppedAt: string): Promise<StopResult> {
    const rKey = this.recordKey(ref);
    const tKey = this.tombstoneKey(ref);
    let current = await this.readTask(ref);
    let tombstoneLease: string | undefined;
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const { record, tombstone } = current;
        if (tombstone && !record) {
          if (tombstoneLease) await this.revoke(tombstoneLease);
          return { status: 'unchanged' };
        }
        tombstoneLease ??= await this.grant(this.config.tombstoneTtlSeconds);
        const value: Tombstone = { taskArn: ref.taskArn, version: Math.max(version, tombstone?.tombstone.version ?? 0), stoppedAt };
        const res = await this.txn(
          'deregister transaction',
          [unchanged(rKey, record?.modRevision), unchanged(tKey, tombstone?.modRevision)],
          [
            put(tKey, JSON.stringify(value), tombstoneLease),
            ...(record ? [del(rKey), ...record.record.keys.map((k) => deleteIfOwned(k, record.lease))] : []),
          ],
          [get(rKey), get(tKey)],
        );
        if (res.succeeded) {
          if (record) await this.revoke(record.lease);
          return record ? { status: 'removed', keys: record.record.keys } : { status: 'tombstoned' };
        }
        current = this.stateFromFailure(res);
      }
    } catch (err) {
      if (tombstoneLease) await this.revoke(tombstoneLease);
      throw err;
    }
    throw new ConflictError(`task ${ref.taskArn}: record changed under ${MAX_ATTEMPTS} attempts to remove it`);
  }

  /**
   * Withdraws an unhealthy task's endpoints but keeps its record (state `withdrawn`, same lease),
   * so renew keeps watching it and publishes it again once healthy.
   *
   * @returns false when the record changed since it was read (the next tick decides again).
   */
  async withdrawTask(stored: StoredRecord, version: number): Promise<boolean> {
    const { record } = stored;
    const next: TaskRecord = { ...record, version: Math.max(version, record.version), state: RecordState.Withdrawn, keys: [], updatedAt: new Date().toISOString() };
    const res = await this.txn(
      'withdraw transaction',
      [modifiedAt(stored.key, stored.modRevision)],
      [put(stored.key, JSON.stringify(next), stored.lease), ...record.keys.map((k) => deleteIfOwned(k, stored.lease))],
      [],
    );
    return res.succeeded;
  }

  /**
   * Reads every task record, a page at a time, all pages at one revision. The first page holds
   * `firstPage` records, the next ones about `pageBytes` each: etcd counts the whole rest of the
   * range for every page it answers, so at 50,000 records pages of 1,000 cost it more than the
   * reads themselves, and 2 MB pages stay well under grpc-js's 4 MB message limit whatever the
   * records' size. Records that cannot be parsed are returned in `invalid` rather than failing the read.
   */
  async listRecords({ firstPage = 1000, pageBytes = 2 * 1024 * 1024 } = {}): Promise<{ records: StoredRecord[]; invalid: { key: string; error: string }[] }> {
    const prefix = recordsPrefix(this.config.statePrefix);
    const end = prefixEnd(prefix);
    const records: StoredRecord[] = [];
    const invalid: { key: string; error: string }[] = [];
    let start = bytes(prefix);
    let revision: string | undefined;
    let limit = firstPage;
    for (;;) {
      const res = await this.call('list task records', () => this.client.kv.range({ key: start, range_end: end, limit, revision }));
      revision ??= res.header.revision;
      let pageSize = 0;
      for (const kv of res.kvs) {
        pageSize += kv.key.length + kv.value.length;
        try {
          records.push(this.parseRecord(kv));
        } catch (err) {
          invalid.push({ key: kv.key.toString(), error: errorMessage(err) });
        }
      }
      if (!res.more || res.kvs.length === 0) break;
      limit = Math.max(1, Math.min(10_000, Math.floor(pageBytes / (pageSize / res.kvs.length))));
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    return { records, invalid };
  }

  /** Cluster ARNs the registrar has registered tasks in (kept without a lease, so they outlive expiry). */
  async knownClusters(): Promise<string[]> {
    const prefix = `${this.config.statePrefix}/clusters/`;
    const res = await this.call('list clusters', () => this.client.kv.range({ key: bytes(prefix), range_end: prefixEnd(prefix) }));
    return res.kvs.map((kv) => kv.value.toString());
  }

  /** Forgets a cluster that no longer exists. */
  async forgetCluster(clusterName: string): Promise<void> {
    await this.call('forget cluster', () => this.client.kv.deleteRange({ key: bytes(this.clusterKey(clusterName)) }));
  }

  /**
   * Every key under `prefix` with the lease it hangs on, read keys-only a page at a time, all
   * pages at one revision (renew checks each record's endpoint keys against it in one pass).
   */
  async listKeyLeases(prefix: string, { pageSize = 10_000 } = {}): Promise<Map<string, string>> {
    const end = prefix === '' ? Buffer.from([0]) : prefixEnd(prefix);
    const leases = new Map<string, string>();
    let start = bytes(prefix === '' ? '\0' : prefix);
    let revision: string | undefined;
    for (;;) {
      const res = await this.call('list endpoint keys', () => this.client.kv.range({ key: start, range_end: end, limit: pageSize, revision, keys_only: true }));
      revision ??= res.header.revision;
      for (const kv of res.kvs) leases.set(kv.key.toString(), kv.lease);
      if (!res.more || res.kvs.length === 0) break;
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    return leases;
  }

  /** Every MISSING mark, by task ARN (unreadable ones are skipped: they expire with their lease). */
  async listMissingMarks(): Promise<Map<string, MissingMark>> {
    const prefix = missingPrefix(this.config.statePrefix);
    const res = await this.call('list missing marks', () => this.client.kv.range({ key: bytes(prefix), range_end: prefixEnd(prefix) }));
    const marks = new Map<string, MissingMark>();
    for (const kv of res.kvs) {
      const parsed = missingMarkSchema.safeParse(JSON.parse(kv.value.toString()));
      if (parsed.success) marks.set(parsed.data.taskArn, parsed.data);
    }
    return marks;
  }

  /**
   * Marks a task ECS answered MISSING for, on the task's own lease (so it goes with the task),
   * guarded on the record being as read.
   *
   * @returns false when the record changed since it was read (the next tick decides again).
   */
  async markMissing(stored: StoredRecord, firstSeen: string): Promise<boolean> {
    const ref = storedRef(stored);
    const mark: MissingMark = { taskArn: ref.taskArn, firstSeen };
    const res = await this.txn(
      'mark missing',
      [modifiedAt(stored.key, stored.modRevision)],
      [put(missingKey(this.config.statePrefix, ref.clusterName, ref.taskId), JSON.stringify(mark), stored.lease)],
      [],
    );
    return res.succeeded;
  }

  /** Deletes a task's MISSING mark (ECS describes or lists the task again). */
  async clearMissing(ref: Pick<TaskRef, 'clusterName' | 'taskId'>): Promise<void> {
    await this.call('clear missing mark', () => this.client.kv.deleteRange({ key: bytes(missingKey(this.config.statePrefix, ref.clusterName, ref.taskId)) }));
  }

  /**
   * Removes a task without a tombstone (ECS does not know it, or its cluster is gone): deletes its
   * record, its MISSING mark and each endpoint key still on its lease in one transaction guarded
   * on the record being as read, then revokes the lease. Without a tombstone, a task removed by
   * mistake is registered again by the next event or reconcile.
   *
   * @returns false when the record changed since it was read (nothing removed).
   */
  async removeTask(stored: StoredRecord): Promise<boolean> {
    const ref = storedRef(stored);
    const res = await this.txn(
      'remove transaction',
      [modifiedAt(stored.key, stored.modRevision)],
      [del(stored.key), del(missingKey(this.config.statePrefix, ref.clusterName, ref.taskId)), ...stored.record.keys.map((k) => deleteIfOwned(k, stored.lease))],
      [],
    );
    if (res.succeeded) await this.revoke(stored.lease);
    return res.succeeded;
  }

  /** The lease each of these keys hangs on (absent keys left out), read keys-only, 100 per transaction. */
  async keyLeases(keys: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (let i = 0; i < keys.length; i += TXN_OPS) {
      const batch = keys.slice(i, i + TXN_OPS);
      const res = await this.txn('read keys', [], batch.map((key) => ({ request_range: { key: bytes(key), keys_only: true } })), []);
      for (const r of res.responses) for (const kv of r.response_range.kvs) found.set(kv.key.toString(), kv.lease);
    }
    return found;
  }

  /** Which of these tasks have a tombstone (their task ARNs). */
  async tombstoned(refs: readonly TaskRef[]): Promise<Set<string>> {
    const present = await this.keyLeases(refs.map((ref) => this.tombstoneKey(ref)));
    return new Set(refs.filter((ref) => present.has(this.tombstoneKey(ref))).map((ref) => ref.taskArn));
  }
}
