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
  GRPCFailedPreconditionError,
  GRPCUnavailableError,
  type ICompare,
  type IKeyValue,
  type IRequestOp,
  type ITxnResponse,
} from 'etcd3';
import { createHash, randomBytes } from 'node:crypto';
import * as z from 'zod/mini';
import type { Config } from '../config';
import { decideKeyClaim, decideWrite, RecordState, type KeyHolder, type TaskRecord, type Tombstone, type WriteSource } from '../decide';
import { ConflictError, DependencyError, errorMessage } from '../errors';
import { missingKey, missingPrefix, pendingKey, pendingPrefix, recordKey, recordsPrefix, tombstoneKey } from '../keys';
import { callDeadline } from './client';
import { keepAliveLeases } from './keepalive';

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
  services: z.optional(z.array(z.string())),
  updatedAt: z.string(),
  // Absent from records written before these fields existed.
  startedAt: z.optional(z.string()),
  writeId: z.optional(z.string()),
});
const tombstoneSchema = z.object({ taskArn: z.string(), version: z.int(), stoppedAt: z.string() });
const missingMarkSchema = z.object({ taskArn: z.string(), firstSeen: z.string() });

/** Most operations in one etcd transaction (etcd's default `--max-txn-ops` is 128). */
const TXN_OPS = 100;

/** A pending task as listed under a service it will publish (see {@link Registry.pendingTasks}). */
export interface PendingEntry {
  readonly taskArn: string;
  readonly clusterArn: string;
  readonly gatedContainers: readonly string[];
}
const pendingEntrySchema = z.object({ taskArn: z.string(), clusterArn: z.string(), gatedContainers: z.array(z.string()) });

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
/** The key exists and hangs on `lease`. */
const heldBy = (key: string, lease: string): ICompare => ({ key: bytes(key), target: CompareTarget.Lease, result: CompareResult.Equal, lease });
/** Deletes a key only while it still hangs on `lease`: a newer task may own the same key (IP reuse). */
const deleteIfOwned = (key: string, lease: string): IRequestOp => ({
  request_txn: { compare: [{ key: bytes(key), target: CompareTarget.Lease, result: CompareResult.Equal, lease }], success: [del(key)], failure: [] },
});

/** Task ARN and start time from an `etcd-naming` value's Metadata; nothing for other formats. */
function metadataOf(value: string): KeyHolder {
  try {
    const meta = JSON.parse((JSON.parse(value) as { Metadata?: unknown }).Metadata as string) as { taskArn?: unknown; startedAt?: unknown };
    return {
      taskArn: typeof meta.taskArn === 'string' ? meta.taskArn : undefined,
      startedAt: typeof meta.startedAt === 'string' ? meta.startedAt : undefined,
    };
  } catch {
    return {};
  }
}

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

/** Options of {@link Registry.grant}. */
export interface GrantOptions {
  /**
   * What the lease is for (e.g. {@link taskLeaseName}); the lease ID is derived from it, so every
   * grant for the same purpose asks for the same ID. Without it etcd picks a fresh ID.
   */
  readonly name?: string;
}

/**
 * The lease ID for a name: 63 bits of its SHA-256, never 0 (0 asks etcd to choose). A retried or
 * redelivered grant for the same purpose asks for the same ID and etcd answers "lease already
 * exists" when the first grant was applied, so no lease is ever granted without an owner knowing it.
 */
export function leaseIdFor(name: string): string {
  const id = createHash('sha256').update(name).digest().readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
  return String(id === 0n ? 1n : id);
}

/** Name of the lease a task's record and keys hang on for one event version. */
export function taskLeaseName(task: { readonly taskArn: string; readonly version: number }): string {
  return `task\u0000${task.taskArn}\u0000${task.version}`;
}

/** Name of the lease a task's tombstone hangs on. */
export function tombstoneLeaseName(taskArn: string): string {
  return `tombstone\u0000${taskArn}`;
}

/** True when etcd refused a grant because a lease with the requested ID exists. */
function isLeaseExists(err: unknown): boolean {
  const cause = err instanceof DependencyError ? err.cause : err;
  // etcd's fixed server message; etcd3 types it only as a failed precondition.
  return cause instanceof GRPCFailedPreconditionError && errorMessage(cause).includes('etcdserver: lease already exists');
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

  /** The pending-index keys a record holds: one per service while it is pending. */
  private pendingKeys(record: Pick<TaskRecord, 'state' | 'services'>, ref: Pick<TaskRef, 'clusterName' | 'taskId'>): string[] {
    if (record.state !== RecordState.Pending) return [];
    return (record.services ?? []).map((service) => pendingKey(this.config.statePrefix, service, ref.clusterName, ref.taskId));
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

  /**
   * Grants a lease of `ttl` seconds and returns its ID. With `name`, the ID is derived from it
   * ({@link leaseIdFor}): a grant etcd applied but whose answer was lost (a leader election, a
   * deadline) is found by the next grant of the same name, in this process or a redelivered
   * invocation, and adopted (renewed to its full TTL) instead of being left behind unowned.
   */
  async grant(ttl: number, options: GrantOptions = {}): Promise<string> {
    if (this.unrevoked.size > 0) await this.revokeLeftovers();
    const ID = options.name === undefined ? undefined : leaseIdFor(options.name);
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.call('lease grant', () => this.client.leaseClient.leaseGrant(ID === undefined ? { TTL: ttl } : { TTL: ttl, ID }));
        return res.ID;
      } catch (err) {
        if (ID === undefined || attempt > 0 || !isLeaseExists(err)) throw err;
      }
      // The lease exists: granted earlier for the same purpose. Renew it so a write on it gets a
      // full TTL; if it expired in between, its ID is free and the next turn grants it afresh.
      const kept = await keepAliveLeases(this.client, [ID], { streams: 1, inFlight: 1, timeoutMs: Math.max(100, callDeadline(REVOKE_RETRY_MS) - Date.now()) });
      if (kept.alive.has(ID)) return ID;
      const failure = kept.failed.get(ID);
      if (failure !== undefined) throw new DependencyError('etcd', `lease keepalive failed: ${failure}`);
    }
  }

  /**
   * Starts granting a task lease ahead of knowing whether it will be needed, so the round trip
   * overlaps other work. The result goes to {@link writeTask}, or back through {@link release}.
   *
   * @param forTask the task and event version the lease is for: its ID is derived from them, so
   *   a redelivery of the same event adopts a lease whose grant answer was lost.
   */
  grantAhead(forTask?: { readonly taskArn: string; readonly version: number }): Promise<string> {
    const granted = this.grant(this.config.leaseTtlSeconds, { name: forTask && taskLeaseName(forTask) });
    // Whoever takes the lease sees a failure; until then it must not count as unhandled.
    granted.catch(() => undefined);
    return granted;
  }

  /**
   * Gives back a lease from {@link grantAhead} that turned out not to be needed. Awaited by callers:
   * a Lambda container is frozen when the handler returns, so a revoke left in flight may never leave.
   * A lease that carries keys is kept (see {@link giveBack}).
   */
  async release(granted: Promise<string>): Promise<void> {
    const leaseId = await granted.catch(() => undefined);
    if (leaseId !== undefined) await this.giveBack(leaseId);
  }

  /**
   * Revokes a lease, deleting what hangs on it. Best effort: an already expired lease is fine, and
   * an unreachable etcd is tried again for a few seconds (long enough for etcd3's circuit breaker to
   * let calls through after a leader election). If etcd stays unreachable, the lease is remembered
   * and revoked by a later grant of this process, if it is still empty; else it expires by its TTL.
   */
  async revoke(leaseId: string): Promise<void> {
    await this.revokeWithRetry(leaseId, false);
  }

  /**
   * Revokes a lease this process granted or adopted but does not need, only if nothing hangs on it.
   * Lease IDs are derived from what they are for, so the lease may be the one a duplicate of the
   * same event already wrote the task on, or a write whose answer was lost may have landed on it:
   * then it carries the task's record and is that task's lease now, never to be revoked here.
   */
  private async giveBack(leaseId: string): Promise<void> {
    await this.revokeWithRetry(leaseId, true);
  }

  private async revokeWithRetry(leaseId: string, onlyIfEmpty: boolean): Promise<void> {
    const deadline = callDeadline(REVOKE_RETRY_MS);
    for (let pause = 200; ; pause = Math.min(pause * 2, 2000)) {
      try {
        if (onlyIfEmpty) {
          const lease = await this.client.leaseClient.leaseTimeToLive({ ID: leaseId, keys: true }, { deadline });
          if (Number(lease.TTL) <= 0 || lease.keys.length > 0) return;
        }
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
      tombstone: tombstoneKv && { tombstone: tombstoneSchema.parse(JSON.parse(tombstoneKv.value.toString())), modRevision: tombstoneKv.mod_revision, lease: tombstoneKv.lease },
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
   * guarded on the record being as read, no tombstone, and every endpoint key being as read (absent,
   * on the task's own lease, or held by another task the write may take it from). The warm path for
   * a new task is two round trips (grant, transaction); the transaction's failure branch returns the
   * current state, so losing a guard costs no extra read. A lease that ends up unused is given back.
   *
   * An endpoint key held by another task's lease (KEY_FORMAT=addr, a reused ip:port) is taken over
   * only when that task started earlier ({@link decideKeyClaim}); otherwise it is left with its
   * holder, reported in `leftOut`, and the rest is written.
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
    const leaseId = await (granted ?? this.grant(this.config.leaseTtlSeconds, { name: taskLeaseName(desired) }));
    // Tells this call's own write (applied, its answer lost, the call retried) from a concurrent
    // duplicate's write on the same derived lease.
    const writeId = randomBytes(6).toString('hex');
    /** Each endpoint key as last read (undefined: absent); none read before the first attempt. */
    let seen: Map<string, IKeyValue | undefined> | undefined;
    const holders = new Map<string, Promise<KeyHolder>>();
    let old: StoredRecord | undefined;
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        old = current?.record;
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
            if (!holders.has(cacheKey)) holders.set(cacheKey, this.holderOf(kv));
            const claim = decideKeyClaim({ taskArn: desired.taskArn, startedAt: desired.startedAt }, await holders.get(cacheKey)!);
            if (!claim.take) {
              leftOut.push({ key: entry.key, reason: claim.reason });
              continue;
            }
          }
          guards.push(unchanged(entry.key, kv?.mod_revision));
          written.push(entry);
        }
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
          writeId,
        };
        const oldLease = old?.lease;
        const listed = this.pendingKeys(record, desired);
        const listing = JSON.stringify({ taskArn: desired.taskArn, clusterArn: desired.clusterArn, gatedContainers: desired.gatedContainers } satisfies PendingEntry);
        const stale = old
          ? [...old.record.keys, ...this.pendingKeys(old.record, desired)].filter((k) => !keys.includes(k) && !listed.includes(k)).map((k) => deleteIfOwned(k, oldLease!))
          : [];
        const res = await this.txn(
          'register transaction',
          [unchanged(rKey, old?.modRevision), absent(tKey), ...guards],
          [
            put(rKey, JSON.stringify(record), leaseId),
            ...written.map((e) => put(e.key, e.value, leaseId)),
            ...listed.map((k) => put(k, listing, leaseId)),
            ...stale,
            // Written once per cluster, not once per task: etcd adds no revision for an unchanged key.
            putIfChanged(this.clusterKey(desired.clusterName), desired.clusterArn),
          ],
          [get(rKey), get(tKey), ...desired.entries.map((e) => get(e.key))],
        );
        if (res.succeeded) {
          if (old && old.lease !== leaseId) await this.revoke(old.lease);
          return { status: 'written', leaseId, keys, previous: old?.record.state, leftOut };
        }
        current = this.stateFromFailure(res);
        seen = new Map(desired.entries.map((e, i) => [e.key, res.responses[i + 2]?.response_range.kvs[0]]));
        // A retried call whose first attempt was applied finds its own write: that is success.
        if (current.record?.lease === leaseId && current.record.record.writeId === writeId)
          return { status: 'written', leaseId, keys: current.record.record.keys, previous: old?.record.state, leftOut };
        const decision = decideWrite({ version: desired.version, source }, { record: current.record?.record, tombstone: current.tombstone?.tombstone });
        if (!decision.write) {
          await this.giveBack(leaseId);
          return { status: 'ignored', reason: decision.reason };
        }
      }
    } catch (err) {
      await this.giveBack(leaseId);
      // If the failed transaction was applied after all (its answer lost), the task moved off its
      // old lease, which is empty now; if not, the old lease still carries the task and is kept.
      if (old && old.lease !== leaseId) await this.giveBack(old.lease);
      throw err;
    }
    await this.giveBack(leaseId);
    throw new ConflictError(`task ${desired.taskArn}: record changed under ${MAX_ATTEMPTS} attempts to write it`);
  }

  /**
   * Who holds an endpoint key on a lease that is not the writing task's: the task whose record hangs
   * on the same lease (every key of a task shares its record's lease), else what the value's
   * metadata says (`etcd-naming` values carry the task ARN and start time). Formats without
   * metadata (`addr`, `json`) depend on the record; a key on no lease or a lease without a record
   * has no task holder.
   */
  private async holderOf(kv: IKeyValue): Promise<KeyHolder> {
    let fromRecord: KeyHolder = {};
    if (kv.lease !== '0') {
      const lease = await this.call('lease keys', () => this.client.leaseClient.leaseTimeToLive({ ID: kv.lease, keys: true }));
      const recordKeyOnLease = lease.keys.map((k) => k.toString()).find((k) => k.startsWith(recordsPrefix(this.config.statePrefix)));
      if (recordKeyOnLease) {
        const res = await this.call('read key holder', () => this.client.kv.range({ key: bytes(recordKeyOnLease) }));
        const holderKv = res.kvs[0];
        if (holderKv) {
          try {
            const { record } = this.parseRecord(holderKv);
            fromRecord = { taskArn: record.taskArn, startedAt: record.startedAt };
          } catch {
            // Unreadable record: fall back to the value's metadata.
          }
        }
      }
    }
    if (fromRecord.startedAt !== undefined) return fromRecord;
    const fromValue = metadataOf(kv.value.toString());
    if (fromValue.taskArn !== undefined && (fromRecord.taskArn === undefined || fromRecord.taskArn === fromValue.taskArn)) return fromValue;
    return fromRecord;
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
    let record: StoredRecord | undefined;
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const { tombstone } = current;
        record = current.record;
        if (tombstone && !record) {
          // Given back only if empty: a duplicate stop may have written the tombstone on this very lease.
          if (tombstoneLease) await this.giveBack(tombstoneLease);
          return { status: 'unchanged' };
        }
        tombstoneLease ??= await this.grant(this.config.tombstoneTtlSeconds, { name: tombstoneLeaseName(ref.taskArn) });
        const value: Tombstone = { taskArn: ref.taskArn, version: Math.max(version, tombstone?.tombstone.version ?? 0), stoppedAt };
        const res = await this.txn(
          'deregister transaction',
          [unchanged(rKey, record?.modRevision), unchanged(tKey, tombstone?.modRevision)],
          [
            put(tKey, JSON.stringify(value), tombstoneLease),
            ...(record ? [del(rKey), ...[...record.record.keys, ...this.pendingKeys(record.record, ref)].map((k) => deleteIfOwned(k, record!.lease))] : []),
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
      if (tombstoneLease) await this.giveBack(tombstoneLease);
      // Emptied if the failed transaction was applied after all (its answer lost); else kept.
      if (record) await this.giveBack(record.lease);
      throw err;
    }
    if (tombstoneLease) await this.giveBack(tombstoneLease);
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
      [put(stored.key, JSON.stringify(next), stored.lease), ...[...record.keys, ...this.pendingListing(stored)].map((k) => deleteIfOwned(k, stored.lease))],
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

  /**
   * The pending (health-gated) tasks listed under any of `services`, one range read per service.
   * Entries that cannot be parsed are left out: the follow-up and renew still look at those tasks.
   */
  async pendingTasks(services: readonly string[]): Promise<PendingEntry[]> {
    const found = new Map<string, PendingEntry>();
    await Promise.all(
      [...new Set(services)].map(async (service) => {
        const prefix = pendingPrefix(this.config.statePrefix, service);
        const res = await this.call('list pending tasks', () => this.client.kv.range({ key: bytes(prefix), range_end: prefixEnd(prefix) }));
        for (const kv of res.kvs) {
          const entry = pendingEntrySchema.safeParse(safeJson(kv.value.toString()));
          if (entry.success) found.set(entry.data.taskArn, entry.data);
        }
      }),
    );
    return [...found.values()];
  }

  /** The pending-index keys of a stored record (its cluster and task id from the record key). */
  private pendingListing(stored: StoredRecord): string[] {
    const parts = stored.key.split('/');
    return this.pendingKeys(stored.record, { clusterName: parts[parts.length - 2]!, taskId: parts[parts.length - 1]! });
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

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
