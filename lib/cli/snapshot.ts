/**
 * What the operator CLI reads from etcd: every task record, tombstone and endpoint key, all at one
 * revision, and the remaining TTL of the leases they hang on. Reading only; the pure inspections in
 * `inspect.ts` work on the {@link Snapshot} this returns.
 */
import { EtcdPermissionDeniedError, type Etcd3, type IKeyValue } from 'etcd3';
import type { Config } from '../config';
import { DependencyError, errorMessage } from '../errors';
import { probeLeases } from '../etcd/keepalive';
import { etcdCall, prefixEnd, type Registry, type StoredRecord } from '../etcd/registry';
import { type Deployment, foreignReason } from '../deployment';
import { parseEndpoint } from '../discovery/parse';
import { recordsPrefix, stateKeyParts, tombstonesPrefix } from '../keys';

/** One key as read. */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** The lease the key hangs on; `"0"` for none. */
  readonly lease: string;
}

/** A tombstone as read: the remembered stop, or why it could not be read. */
export interface TombstoneEntry {
  readonly key: string;
  readonly clusterName: string;
  readonly taskId: string;
  readonly taskArn?: string;
  readonly version?: number;
  readonly stoppedAt?: string;
  /** Set when the value is not a tombstone this registrar wrote. */
  readonly error?: string;
}

/** What etcd says about one lease. */
export type LeaseStatus =
  /** `ttl`: seconds left, when it was read. */
  | { readonly state: 'alive'; readonly ttl?: number }
  | { readonly state: 'expired' }
  | { readonly state: 'unknown'; readonly error: string };

/** Everything the registrar keeps in etcd, read at one revision. */
export interface Snapshot {
  /** The etcd revision every range was read at. */
  readonly revision: string;
  readonly registryPrefix: string;
  readonly statePrefix: string;
  readonly records: readonly StoredRecord[];
  /** Record keys whose value does not parse as a task record. */
  readonly invalidRecords: readonly { readonly key: string; readonly error: string }[];
  readonly tombstones: readonly TombstoneEntry[];
  /** Every key under the registry prefix (outside the state prefix when the registry prefix is empty). */
  readonly endpoints: readonly KeyValue[];
}

/** The remaining TTL of leases, by lease ID. */
export type LeaseTable = ReadonlyMap<string, LeaseStatus>;

/** Keys per range request: small enough for any value size under grpc-js's 4 MB message limit. */
const PAGE = 1000;

/** Reads every key under `prefix` ('' = the whole key space) at one revision, a page at a time. */
async function rangeAll(
  client: Etcd3,
  what: string,
  prefix: string,
  revision: string | undefined,
): Promise<{ kvs: IKeyValue[]; revision: string }> {
  // An empty prefix means every key: etcd reads [\0, \0) as "from the first key to the end".
  let start = prefix === '' ? Buffer.from([0]) : Buffer.from(prefix, 'utf8');
  const end = prefix === '' ? Buffer.from([0]) : prefixEnd(prefix);
  const kvs: IKeyValue[] = [];
  for (;;) {
    const res = await etcdCall(what, () => client.kv.range({ key: start, range_end: end, limit: PAGE, revision }));
    revision ??= res.header.revision;
    kvs.push(...res.kvs);
    if (!res.more || res.kvs.length === 0) return { kvs, revision };
    start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
  }
}

/** Reads a tombstone's value leniently: an operator wants to see what is there, whatever it is. */
export function parseTombstoneEntry(key: string, value: string): TombstoneEntry {
  const { clusterName, taskId } = stateKeyParts(key);
  const where = { clusterName, taskId };
  try {
    const json = JSON.parse(value) as Record<string, unknown>;
    if (
      typeof json !== 'object' ||
      json === null ||
      typeof json.version !== 'number' ||
      typeof json.stoppedAt !== 'string'
    )
      return { key, ...where, error: 'not a tombstone: expected {"taskArn","version","stoppedAt"}' };
    return {
      key,
      ...where,
      taskArn: typeof json.taskArn === 'string' ? json.taskArn : undefined,
      version: json.version,
      stoppedAt: json.stoppedAt,
    };
  } catch (err) {
    return { key, ...where, error: `not JSON: ${errorMessage(err)}` };
  }
}

/**
 * True for an endpoint key another deployment published in a shared service directory: its
 * metadata (etcd-naming) names a task of another account or region. Keys without metadata (the
 * `addr` and `json` formats) cannot say whose they are and are kept.
 */
function ofAnotherDeployment(deployment: Deployment, kv: KeyValue): boolean {
  const taskArn = parseEndpoint(kv.key, kv.value)?.metadata?.taskArn;
  return typeof taskArn === 'string' && foreignReason(deployment, taskArn) !== undefined;
}

/**
 * Reads the records, tombstones and endpoint keys, all at the revision of the first read, so a
 * write landing meanwhile cannot show half a task.
 *
 * @throws {DependencyError} (`etcd`) when etcd cannot be read.
 */
export async function readSnapshot(
  registry: Registry,
  config: Pick<Config, 'deployment' | 'registryPrefix' | 'statePrefix'>,
): Promise<Snapshot> {
  const client = registry.client;
  const recordsRange = await rangeAll(client, 'read task records', recordsPrefix(config.statePrefix), undefined);
  const { revision } = recordsRange;
  const tombstones = await rangeAll(client, 'read tombstones', tombstonesPrefix(config.statePrefix), revision);
  const endpointPrefix = config.registryPrefix === '' ? '' : `${config.registryPrefix}/`;
  const endpoints = await rangeAll(client, 'read endpoint keys', endpointPrefix, revision);
  const records: StoredRecord[] = [];
  const invalidRecords: { key: string; error: string }[] = [];
  for (const kv of recordsRange.kvs) {
    try {
      const stored = registry.parseRecord(kv);
      // Another deployment's record (or one of the previous layout, not moved) is shown as such, never acted on.
      const foreign = stateKeyParts(stored.key).legacy
        ? 'a record of the previous layout (cluster name without account and region), not moved'
        : foreignReason(config.deployment, stored.record.clusterArn);
      if (foreign) invalidRecords.push({ key: stored.key, error: `not this deployment's: ${foreign}` });
      else records.push(stored);
    } catch (err) {
      invalidRecords.push({ key: kv.key.toString(), error: errorMessage(err) });
    }
  }
  const statePrefix = `${config.statePrefix}/`;
  return {
    revision,
    registryPrefix: config.registryPrefix,
    statePrefix: config.statePrefix,
    records,
    invalidRecords,
    tombstones: tombstones.kvs.map((kv) => parseTombstoneEntry(kv.key.toString(), kv.value.toString())),
    endpoints: endpoints.kvs
      .map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), lease: kv.lease }))
      .filter((kv) => !kv.key.startsWith(statePrefix) && !ofAnotherDeployment(config.deployment, kv)),
  };
}

/**
 * Reads which of `leaseIds` are alive with one LeaseLeases call and, with `ttl`, the remaining
 * TTL of each live one (one LeaseTimeToLive each, without renewing it). Lease `"0"` (no lease) is
 * left out.
 */
export async function readLeases(
  client: Etcd3,
  leaseIds: Iterable<string>,
  options: { readonly ttl?: boolean; readonly concurrency?: number } = {},
): Promise<LeaseTable> {
  const ids = [...new Set(leaseIds)].filter((id) => id !== '0');
  const table = new Map<string, LeaseStatus>();
  if (ids.length === 0) return table;
  let live: Set<string> | undefined;
  try {
    live = new Set((await etcdCall('list leases', () => client.leaseClient.leaseLeases())).leases.map((l) => l.ID));
  } catch (err) {
    // A user etcd denies the lease list to is still allowed each lease's TTL: ask lease by lease.
    if (!(err instanceof DependencyError && err.cause instanceof EtcdPermissionDeniedError)) throw err;
  }
  for (const id of ids) if (live && !live.has(id)) table.set(id, { state: 'expired' });
  const alive = live ? ids.filter((id) => live.has(id)) : ids;
  if (!options.ttl && live) {
    for (const id of alive) table.set(id, { state: 'alive' });
    return table;
  }
  const probed = await probeLeases(client, alive, options.concurrency ?? 64);
  for (const [id, ttl] of probed.alive) table.set(id, { state: 'alive', ttl });
  for (const id of probed.expired) table.set(id, { state: 'expired' });
  for (const [id, error] of probed.failed) table.set(id, { state: 'unknown', error });
  return table;
}
