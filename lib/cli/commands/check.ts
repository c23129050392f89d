/**
 * `check`, pure: the consistency check of a registry snapshot, the ports worth a warning, and the
 * problems a second read confirms. No I/O here.
 */
import { RecordState } from '../../decide';
import { stateKeyParts } from '../../keys';
import { ChoiceRule } from '../../port-selection';
import type { LeaseTable, Snapshot } from '../snapshot';
import { describeEndpointKey, owners } from './common';

/** Kinds of inconsistency `check` reports. */
export const ProblemKind = {
  /** A record's value is not a task record. */
  UnreadableRecord: 'unreadable-record',
  /** A tombstone's value is not a tombstone. */
  UnreadableTombstone: 'unreadable-tombstone',
  /** A record lists an endpoint key that does not exist. */
  KeyMissing: 'key-missing',
  /** A record lists an endpoint key that hangs on another lease than the record's. */
  KeyOnOtherLease: 'key-on-other-lease',
  /** An endpoint key that no record lists on the key's own lease. */
  OrphanKey: 'orphan-key',
  /** A record whose lease etcd no longer knows, or whose TTL could not be read. */
  LeaseNotAlive: 'lease-not-alive',
  /** The record's `leaseId` is not the lease the record hangs on. */
  LeaseMismatch: 'lease-mismatch',
  /** A task with both a record and a tombstone. */
  RecordAndTombstone: 'record-and-tombstone',
  /** A record whose state does not match its keys (keys while not registered, or registered with none). */
  StateMismatch: 'state-mismatch',
} as const;
export type ProblemKind = (typeof ProblemKind)[keyof typeof ProblemKind];

/** One inconsistency found by {@link checkSnapshot}. */
export interface Problem {
  readonly kind: ProblemKind;
  /** The key the problem is about (record, tombstone or endpoint key). */
  readonly key: string;
  readonly taskArn?: string;
  readonly message: string;
}

/**
 * The consistency check: every record parses, hangs on a live lease that is the one it names, and
 * its keys exist on that lease; every endpoint key belongs to a record on its own lease; no task
 * has both a record and a tombstone; a record's state matches its keys.
 *
 * @returns every problem found, in a stable order; empty when the registry is consistent.
 */
export function checkSnapshot(snapshot: Snapshot, leases: LeaseTable): Problem[] {
  const problems: Problem[] = [];
  const byKey = new Map(snapshot.endpoints.map((kv) => [kv.key, kv]));
  const owned = owners(snapshot);
  for (const bad of snapshot.invalidRecords)
    problems.push({ kind: ProblemKind.UnreadableRecord, key: bad.key, message: `record does not parse: ${bad.error}` });
  for (const t of snapshot.tombstones)
    if (t.error)
      problems.push({
        kind: ProblemKind.UnreadableTombstone,
        key: t.key,
        message: `tombstone does not parse: ${t.error}`,
      });
  const tombstoned = new Map(snapshot.tombstones.map((t) => [`${t.clusterName}/${t.taskId}`, t]));
  for (const stored of snapshot.records) {
    const { record } = stored;
    const at = { key: stored.key, taskArn: record.taskArn };
    const lease = leases.get(stored.lease);
    if (lease?.state !== 'alive')
      problems.push({
        kind: ProblemKind.LeaseNotAlive,
        ...at,
        message:
          lease?.state === 'unknown'
            ? `lease ${stored.lease}: TTL could not be read: ${lease.error}`
            : `lease ${stored.lease} has expired`,
      });
    if (record.leaseId !== stored.lease)
      problems.push({
        kind: ProblemKind.LeaseMismatch,
        ...at,
        message: `record names lease ${record.leaseId} but hangs on lease ${stored.lease}`,
      });
    const { clusterName, taskId } = stateKeyParts(stored.key);
    const tombstone = tombstoned.get(`${clusterName}/${taskId}`);
    if (tombstone)
      problems.push({
        kind: ProblemKind.RecordAndTombstone,
        ...at,
        message: `task has both a record and a tombstone (${tombstone.key})`,
      });
    if (record.state !== RecordState.Registered && record.keys.length > 0)
      problems.push({
        kind: ProblemKind.StateMismatch,
        ...at,
        message: `record is ${record.state} but lists ${record.keys.length} endpoint keys`,
      });
    if (record.state === RecordState.Registered && record.keys.length === 0)
      problems.push({
        kind: ProblemKind.StateMismatch,
        ...at,
        message: 'record is registered but lists no endpoint key',
      });
    for (const key of record.keys) {
      const kv = byKey.get(key);
      if (!kv)
        problems.push({
          kind: ProblemKind.KeyMissing,
          key,
          taskArn: record.taskArn,
          message: `listed by the record of ${record.taskArn} but absent`,
        });
      else if (kv.lease !== stored.lease)
        problems.push({
          kind: ProblemKind.KeyOnOtherLease,
          key,
          taskArn: record.taskArn,
          message: `listed by the record of ${record.taskArn} (lease ${stored.lease}) but hangs on lease ${kv.lease}`,
        });
    }
  }
  for (const kv of snapshot.endpoints) {
    if (owned.has(`${kv.key}\u0000${kv.lease}`)) continue;
    const lease = kv.lease === '0' ? 'no lease' : `lease ${kv.lease}`;
    problems.push({
      kind: ProblemKind.OrphanKey,
      key: kv.key,
      taskArn: describeEndpointKey(snapshot.registryPrefix, kv).taskArn,
      message: `endpoint key on ${lease} that no task record owns`,
    });
  }
  return problems;
}

/** A task whose gRPC port was guessed (not an inconsistency: `check` lists it and still exits 0). */
export interface PortWarning {
  readonly key: string;
  readonly taskArn: string;
  readonly message: string;
}

/** The tasks whose port the ambiguity rule chose, with the port, the rule's reason and the fix. */
export function portWarnings(snapshot: Pick<Snapshot, 'records'>): PortWarning[] {
  return snapshot.records.flatMap((stored) =>
    (stored.record.ports ?? [])
      .filter((p) => p.rule === ChoiceRule.Ambiguous)
      .map((p) => ({
        key: stored.key,
        taskArn: stored.record.taskArn,
        message: `ambiguous port: ${p.container}:${p.containerPort} chosen for ${p.service}: ${p.reason}`,
      })),
  );
}

/**
 * The problems of a second check that the first showed too: a task registering or stopping between
 * the reads of one check can look inconsistent for a moment; a real problem stays.
 */
export function persistentProblems(first: readonly Problem[], second: readonly Problem[]): Problem[] {
  const id = (p: Problem) => `${p.kind}\u0000${p.key}`;
  const seen = new Set(first.map(id));
  return second.filter((p) => seen.has(id(p)));
}
