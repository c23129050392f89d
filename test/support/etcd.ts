/**
 * Reading a whole etcd for tests: a snapshot of every key and lease, and the registry's
 * invariants (one lease per task holding exactly its record and keys, no orphan key or lease).
 */
import type { Etcd3 } from 'etcd3';
import type { TaskRecord } from '../../lib/decide';

/** Every key (with value and lease) and every lease of an etcd, at one revision. */
export interface EtcdSnapshot {
  readonly revision: string;
  /** `[key, value, lease]`, sorted by key. */
  readonly kvs: readonly (readonly [string, string, string])[];
  /** Lease IDs, sorted. */
  readonly leases: readonly string[];
}

/** Reads the whole keyspace and the lease list. */
export async function etcdSnapshot(client: Etcd3): Promise<EtcdSnapshot> {
  const res = await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]) });
  const leases = await client.leaseClient.leaseLeases();
  return {
    revision: res.header.revision,
    kvs: res.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.lease] as const),
    leases: leases.leases.map((l) => String(l.ID)).sort(),
  };
}

/** What {@link checkRegistry} found wrong; every list empty means the registry is consistent. */
export interface RegistryReport {
  /** Task records found. */
  readonly records: number;
  /** Tombstones found. */
  readonly tombstones: number;
  /** Tasks with more than one record (cannot happen with one key per task, kept for completeness). */
  readonly duplicateRecords: string[];
  /** Record keys whose record is not on the lease it names, or whose keys are missing or on another lease. */
  readonly brokenRecords: string[];
  /** Endpoint keys no record lists (or listed by a record on another lease). */
  readonly orphanKeys: string[];
  /** Leases etcd holds that neither a record nor a tombstone hangs on. */
  readonly orphanLeases: string[];
  /** Leases that hang more than one task's record. */
  readonly sharedLeases: string[];
}

/** The parts of a {@link RegistryReport} of a consistent registry: nothing found wrong. */
export const CONSISTENT = {
  duplicateRecords: [],
  brokenRecords: [],
  orphanKeys: [],
  orphanLeases: [],
  sharedLeases: [],
} as const;

/**
 * Checks the registry's invariants on a snapshot: every record hangs on its own lease with exactly
 * its endpoint keys; every endpoint key belongs to a record on the same lease; every lease carries a
 * record or a tombstone; every pending-index entry belongs to a pending record on the same lease.
 * Nothing else in the snapshot may be under the given prefixes.
 */
export function checkRegistry(snapshot: EtcdSnapshot, registryPrefix: string, statePrefix: string): RegistryReport {
  const kv = new Map(snapshot.kvs.map(([key, value, lease]) => [key, { value, lease }]));
  const report: RegistryReport = {
    records: 0,
    tombstones: 0,
    duplicateRecords: [],
    brokenRecords: [],
    orphanKeys: [],
    orphanLeases: [],
    sharedLeases: [],
  };
  const owned = new Map<string, string>(); // endpoint key → lease of the record listing it
  const leaseUse = new Map<string, number>();
  const seenTasks = new Set<string>();
  for (const [key, { value, lease }] of kv) {
    if (key.startsWith(`${statePrefix}/tombstones/`)) {
      (report as { tombstones: number }).tombstones++;
      leaseUse.set(lease, (leaseUse.get(lease) ?? 0) + 1);
      continue;
    }
    if (!key.startsWith(`${statePrefix}/tasks/`)) continue;
    (report as { records: number }).records++;
    const record = JSON.parse(value) as TaskRecord;
    if (seenTasks.has(record.taskArn)) report.duplicateRecords.push(record.taskArn);
    seenTasks.add(record.taskArn);
    leaseUse.set(lease, (leaseUse.get(lease) ?? 0) + 1);
    if (lease !== record.leaseId || lease === '0')
      report.brokenRecords.push(`${key}: on lease ${lease}, names ${record.leaseId}`);
    for (const k of record.keys) {
      const entry = kv.get(k);
      if (!entry) report.brokenRecords.push(`${key}: key ${k} missing`);
      else if (entry.lease !== lease)
        report.brokenRecords.push(`${key}: key ${k} on lease ${entry.lease}, record on ${lease}`);
      owned.set(k, lease);
    }
  }
  for (const [key, { lease }] of kv) {
    if (key.startsWith(`${registryPrefix}/`) && owned.get(key) !== lease) report.orphanKeys.push(key);
    // A pending-index entry (`pending/<service>/<cluster>/<task-id>`) lives exactly as long as its
    // task's record is pending, on the same lease.
    if (key.startsWith(`${statePrefix}/pending/`)) {
      const [cluster, taskId] = key.split('/').slice(-2);
      const record = kv.get(`${statePrefix}/tasks/${cluster}/${taskId}`);
      if (!record || record.lease !== lease || (JSON.parse(record.value) as TaskRecord).state !== 'pending')
        report.orphanKeys.push(key);
    }
  }
  for (const [lease, uses] of leaseUse) if (uses > 1) report.sharedLeases.push(lease);
  for (const lease of snapshot.leases) if (!leaseUse.has(lease)) report.orphanLeases.push(lease);
  return report;
}
