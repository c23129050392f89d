/**
 * The registry: task records, tombstones and endpoint keys in etcd. A thin facade over its parts,
 * so callers hold one object:
 * - `operations.ts`: transaction builders, paging, etcd error translation;
 * - `leases.ts`: derived lease IDs, grant/adopt/revoke and the leftover-revoke queue;
 * - `records.ts`: what is stored about a task and how it is parsed;
 * - `writes.ts`: the guarded transactions; `reads.ts`: one task's state and the listings.
 * Key layout lives in `lib/keys.ts`.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import type { Config } from '../config';
import { clusterKey } from '../keys';
import { Leases, type GrantOptions } from './leases';
import { sweepOrphanLeases, type OrphanSweep, type SweepInput } from './orphans';
import { timedCall, type CallHooks } from './operations';
import * as reads from './reads';
import {
  parseRecord,
  type DesiredTask,
  type MissingMark,
  type PendingEntry,
  type StoredRecord,
  type TaskRef,
  type TaskState,
} from './records';
import * as writes from './writes';

export { hasLeaseTag, leaseIdFor, taskLeaseName, tombstoneLeaseName, type GrantOptions } from './leases';
export { etcdCall, prefixEnd } from './operations';
export {
  refOf,
  storedRef,
  type DesiredTask,
  type MissingMark,
  type PendingEntry,
  type StoredRecord,
  type TaskRef,
  type TaskState,
} from './records';
export type { LeftOutKey, StopResult, WriteOptions, WriteResult } from './writes';

/** Optional hooks of a {@link Registry}. */
export type RegistryOptions = CallHooks;

/** The registry: task records, tombstones and endpoint keys in etcd. */
export class Registry {
  private readonly ctx: writes.WriteContext;
  private readonly leases: Leases;

  constructor(
    /** The etcd client the registry writes through. */
    readonly client: Etcd3,
    private readonly config: Pick<Config, 'deployment' | 'statePrefix' | 'leaseTtlSeconds' | 'tombstoneTtlSeconds'> &
      Partial<Pick<Config, 'orphanGraceSeconds'>>,
    options: RegistryOptions = {},
  ) {
    const base = { client, config, call: timedCall(options) };
    this.leases = new Leases(base);
    this.ctx = { ...base, leases: this.leases };
  }

  /** Key under which a cluster served by the registrar is remembered (outlives every lease). */
  clusterKey(clusterArn: string): string {
    return clusterKey(this.config.statePrefix, clusterArn);
  }

  /** See {@link Leases.grant}. */
  grant(ttl: number, options: GrantOptions = {}): Promise<string> {
    return this.leases.grant(ttl, options);
  }

  /** See {@link Leases.grantAhead}. */
  grantAhead(forTask?: { readonly taskArn: string; readonly version: number }): Promise<string> {
    return this.leases.grantAhead(forTask);
  }

  /** See {@link Leases.release}. */
  release(granted: Promise<string>): Promise<void> {
    return this.leases.release(granted);
  }

  /** See {@link Leases.revoke}. */
  revoke(leaseId: string): Promise<void> {
    return this.leases.revoke(leaseId);
  }

  /** Parses a stored record; throws on a value this code did not write. */
  parseRecord(kv: IKeyValue): StoredRecord {
    return parseRecord(kv);
  }

  /** See {@link reads.readTask}. */
  readTask(ref: Pick<TaskRef, 'clusterArn' | 'taskId'>): Promise<TaskState> {
    return reads.readTask(this.ctx, ref);
  }

  /** See {@link writes.writeTask}. */
  writeTask(desired: DesiredTask, options: writes.WriteOptions): Promise<writes.WriteResult> {
    return writes.writeTask(this.ctx, desired, options);
  }

  /** See {@link writes.stopTask}. */
  stopTask(ref: TaskRef, version: number, stoppedAt: string): Promise<writes.StopResult> {
    return writes.stopTask(this.ctx, ref, version, stoppedAt);
  }

  /** See {@link writes.withdrawTask}. */
  withdrawTask(stored: StoredRecord, version: number): Promise<boolean> {
    return writes.withdrawTask(this.ctx, stored, version);
  }

  /** See {@link writes.removeTask}. */
  removeTask(stored: StoredRecord): Promise<boolean> {
    return writes.removeTask(this.ctx, stored);
  }

  /** See {@link writes.markMissing}. */
  markMissing(stored: StoredRecord, firstSeen: string): Promise<boolean> {
    return writes.markMissing(this.ctx, stored, firstSeen);
  }

  /** See {@link writes.clearMissing}. */
  clearMissing(ref: Pick<TaskRef, 'clusterArn' | 'taskId'>): Promise<void> {
    return writes.clearMissing(this.ctx, ref);
  }

  /** See {@link writes.forgetCluster}. */
  forgetCluster(clusterArn: string): Promise<void> {
    return writes.forgetCluster(this.ctx, clusterArn);
  }

  /** See {@link reads.listRecords}. */
  listRecords(options?: reads.ListRecordsOptions): ReturnType<typeof reads.listRecords> {
    return reads.listRecords(this.ctx, options);
  }

  /** See {@link reads.pendingTasks}. */
  pendingTasks(services: readonly string[]): Promise<PendingEntry[]> {
    return reads.pendingTasks(this.ctx, services);
  }

  /** See {@link reads.knownClusters}. */
  knownClusters(): Promise<string[]> {
    return reads.knownClusters(this.ctx);
  }

  /** See {@link reads.listKeyLeases}. */
  listKeyLeases(prefix: string, options?: reads.ListKeyLeasesOptions): Promise<Map<string, string>> {
    return reads.listKeyLeases(this.ctx, prefix, options);
  }

  /** See {@link reads.listMissingMarks}. */
  listMissingMarks(): Promise<Map<string, MissingMark>> {
    return reads.listMissingMarks(this.ctx);
  }

  /** See {@link reads.keyLeases}. */
  keyLeases(keys: readonly string[]): Promise<Map<string, string>> {
    return reads.keyLeases(this.ctx, keys);
  }

  /** See {@link sweepOrphanLeases}. */
  sweepOrphanLeases(input: SweepInput): Promise<OrphanSweep> {
    return sweepOrphanLeases({ ...this.ctx, config: this.config }, input);
  }

  /** See {@link reads.tombstoned}. */
  tombstoned(refs: readonly TaskRef[]): Promise<Set<string>> {
    return reads.tombstoned(this.ctx, refs);
  }
}
