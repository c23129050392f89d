/**
 * The registry's reads: one task's state, and the listings renew, the follow-up and the CLI page
 * through (records, pending listings, clusters, endpoint-key leases, MISSING marks, tombstones).
 */
import { errorMessage } from '../errors';
import { foreignReason, isLegacySegment } from '../deployment';
import {
  clustersPrefix,
  missingPrefix,
  pendingPrefix,
  recordKey,
  recordsPrefix,
  stateKeyParts,
  tombstoneKey,
} from '../keys';
import { bytes, get, prefixEnd, txn, TXN_OPS, type EtcdContext } from './operations';
import {
  parseMissingMark,
  parsePendingEntry,
  parseRecord,
  stateFromResponses,
  type MissingMark,
  type PendingEntry,
  type StoredRecord,
  type TaskRef,
  type TaskState,
} from './records';

/** Reads a task's record and tombstone in one round trip. */
export async function readTask(ctx: EtcdContext, ref: Pick<TaskRef, 'clusterArn' | 'taskId'>): Promise<TaskState> {
  const { statePrefix } = ctx.config;
  const res = await txn(
    ctx,
    'read task',
    [],
    [
      get(recordKey(statePrefix, ref.clusterArn, ref.taskId)),
      get(tombstoneKey(statePrefix, ref.clusterArn, ref.taskId)),
    ],
    [],
  );
  return stateFromResponses(res);
}

/** Options of {@link listRecords}. */
export interface ListRecordsOptions {
  /** Records in the first page. @default 1000 */
  readonly firstPage?: number;
  /** About how many bytes each later page holds. @default 2 MiB */
  readonly pageBytes?: number;
}

/**
 * Reads every task record, a page at a time, all pages at one revision. The first page holds
 * `firstPage` records, the next ones about `pageBytes` each: etcd counts the whole rest of the
 * range for every page it answers, so at 50,000 records pages of 1,000 cost it more than the
 * reads themselves, and 2 MB pages stay well under grpc-js's 4 MB message limit whatever the
 * records' size. Records that cannot be parsed are returned in `invalid` rather than failing the read.
 */
export async function listRecords(
  ctx: EtcdContext,
  { firstPage = 1000, pageBytes = 2 * 1024 * 1024 }: ListRecordsOptions = {},
): Promise<{
  records: StoredRecord[];
  invalid: { key: string; error: string }[];
  foreign: { key: string; error: string }[];
}> {
  const prefix = recordsPrefix(ctx.config.statePrefix);
  const end = prefixEnd(prefix);
  const records: StoredRecord[] = [];
  const invalid: { key: string; error: string }[] = [];
  const foreign: { key: string; error: string }[] = [];
  let start = bytes(prefix);
  let revision: string | undefined;
  let limit = firstPage;
  for (;;) {
    const res = await ctx.call('list task records', () =>
      ctx.client.kv.range({ key: start, range_end: end, limit, revision }),
    );
    revision ??= res.header.revision;
    let pageSize = 0;
    for (const kv of res.kvs) {
      pageSize += kv.key.length + kv.value.length;
      try {
        const stored = parseRecord(kv);
        const why = notOurs(ctx, stored.key, stored.record.clusterArn);
        if (why) foreign.push({ key: stored.key, error: why });
        else records.push(stored);
      } catch (err) {
        invalid.push({ key: kv.key.toString(), error: errorMessage(err) });
      }
    }
    if (!res.more || res.kvs.length === 0) break;
    limit = Math.max(1, Math.min(10_000, Math.floor(pageBytes / (pageSize / res.kvs.length))));
    start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
  }
  return { records, invalid, foreign };
}

/**
 * Why a state key is not this deployment's to act on, or undefined when it is: a key of the layout
 * before cluster segments carried the account and region (left by a deployment that has not moved
 * it, see lib/etcd/migrate.ts), or a value of a cluster or task of another account or region.
 */
function notOurs(ctx: EtcdContext, key: string, arn: string): string | undefined {
  if (stateKeyParts(key).legacy)
    return 'a key of the previous layout (cluster name without account and region), not moved';
  return foreignReason(ctx.config.deployment, arn);
}

/**
 * The pending (health-gated) tasks listed under any of `services`, one range read per service.
 * Entries that cannot be parsed are left out: the follow-up and renew still look at those tasks.
 */
export async function pendingTasks(ctx: EtcdContext, services: readonly string[]): Promise<PendingEntry[]> {
  const found = new Map<string, PendingEntry>();
  await Promise.all(
    [...new Set(services)].map(async (service) => {
      const prefix = pendingPrefix(ctx.config.statePrefix, service);
      const res = await ctx.call('list pending tasks', () =>
        ctx.client.kv.range({ key: bytes(prefix), range_end: prefixEnd(prefix) }),
      );
      for (const kv of res.kvs) {
        const entry = parsePendingEntry(kv.value.toString());
        if (entry && !notOurs(ctx, kv.key.toString(), entry.clusterArn)) found.set(entry.taskArn, entry);
      }
    }),
  );
  return [...found.values()];
}

/** Cluster ARNs the registrar has registered tasks in (kept without a lease, so they outlive expiry). */
export async function knownClusters(ctx: EtcdContext): Promise<string[]> {
  const prefix = clustersPrefix(ctx.config.statePrefix);
  const res = await ctx.call('list clusters', () =>
    ctx.client.kv.range({ key: bytes(prefix), range_end: prefixEnd(prefix) }),
  );
  // Only clusters of this deployment's account and region, under keys of the current layout.
  return res.kvs
    .filter((kv) => !isLegacySegment(kv.key.toString().slice(prefix.length)))
    .map((kv) => kv.value.toString())
    .filter((arn) => !foreignReason(ctx.config.deployment, arn));
}

/** Options of {@link listKeyLeases}. */
export interface ListKeyLeasesOptions {
  /** Keys per page. @default 10000 */
  readonly pageSize?: number;
}

/**
 * Every key under `prefix` with the lease it hangs on, read keys-only a page at a time, all
 * pages at one revision (renew checks each record's endpoint keys against it in one pass).
 */
export async function listKeyLeases(
  ctx: EtcdContext,
  prefix: string,
  { pageSize = 10_000 }: ListKeyLeasesOptions = {},
): Promise<Map<string, string>> {
  const end = prefix === '' ? Buffer.from([0]) : prefixEnd(prefix);
  const leases = new Map<string, string>();
  let start = bytes(prefix === '' ? '\0' : prefix);
  let revision: string | undefined;
  for (;;) {
    const res = await ctx.call('list endpoint keys', () =>
      ctx.client.kv.range({ key: start, range_end: end, limit: pageSize, revision, keys_only: true }),
    );
    revision ??= res.header.revision;
    for (const kv of res.kvs) leases.set(kv.key.toString(), kv.lease);
    if (!res.more || res.kvs.length === 0) break;
    start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
  }
  return leases;
}

/** Every MISSING mark, by task ARN (unreadable ones are skipped: they expire with their lease). */
export async function listMissingMarks(ctx: EtcdContext): Promise<Map<string, MissingMark>> {
  const prefix = missingPrefix(ctx.config.statePrefix);
  const res = await ctx.call('list missing marks', () =>
    ctx.client.kv.range({ key: bytes(prefix), range_end: prefixEnd(prefix) }),
  );
  const marks = new Map<string, MissingMark>();
  for (const kv of res.kvs) {
    const mark = parseMissingMark(kv.value.toString());
    if (mark && !notOurs(ctx, kv.key.toString(), mark.taskArn)) marks.set(mark.taskArn, mark);
  }
  return marks;
}

/** The lease each of these keys hangs on (absent keys left out), read keys-only, 100 per transaction. */
export async function keyLeases(ctx: EtcdContext, keys: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (let i = 0; i < keys.length; i += TXN_OPS) {
    const batch = keys.slice(i, i + TXN_OPS);
    const res = await txn(
      ctx,
      'read keys',
      [],
      batch.map((key) => ({ request_range: { key: bytes(key), keys_only: true } })),
      [],
    );
    for (const r of res.responses) for (const kv of r.response_range.kvs) found.set(kv.key.toString(), kv.lease);
  }
  return found;
}

/** Which of these tasks have a tombstone (their task ARNs). */
export async function tombstoned(ctx: EtcdContext, refs: readonly TaskRef[]): Promise<Set<string>> {
  const keyOf = (ref: TaskRef) => tombstoneKey(ctx.config.statePrefix, ref.clusterArn, ref.taskId);
  const present = await keyLeases(ctx, refs.map(keyOf));
  return new Set(refs.filter((ref) => present.has(keyOf(ref))).map((ref) => ref.taskArn));
}
