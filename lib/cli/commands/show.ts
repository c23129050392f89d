/**
 * `show`, pure: everything etcd holds about one task, and the explanation of why it is or is not
 * published. No I/O here.
 */
import { RecordState, type TaskRecord } from '../../decide';
import { parseTaskRef } from '../../ecs/arn';
import type { StoredRecord } from '../../etcd/registry';
import { stateKeyParts } from '../../keys';
import type { LeaseStatus, LeaseTable, Snapshot, TombstoneEntry } from '../snapshot';
import { describeEndpointKey } from './common';

/** One line per chosen port of a record: which port, under which service, and why. */
export function explainPorts(record: Pick<TaskRecord, 'ports'>): string[] {
  return (record.ports ?? []).map(
    (p) => `port ${p.container}:${p.containerPort} → ${p.service} (${p.rule}): ${p.reason}`,
  );
}

/** One endpoint key of a task, as `show` reports it. */
export interface TaskKey {
  readonly key: string;
  /** Listed in the task's record. */
  readonly listed: boolean;
  readonly exists: boolean;
  /** The key hangs on the task's lease (the record's). */
  readonly onTaskLease: boolean;
  readonly lease?: string;
  readonly address?: string;
}

/** Everything etcd holds about one task, and why it is or is not published. */
export interface TaskView {
  readonly taskId: string;
  readonly taskArn?: string;
  readonly clusterName?: string;
  readonly record?: StoredRecord;
  readonly tombstone?: TombstoneEntry;
  readonly keys: readonly TaskKey[];
  /** The record's lease. */
  readonly lease?: { readonly id: string } & LeaseStatus;
  /** Clients can dial the task now: at least one of its keys exists on its live lease. */
  readonly published: boolean;
  /** Why, one reason a line, most important first. */
  readonly why: readonly string[];
}

/** Lease IDs {@link viewTask} needs TTLs of for the task matching `arnOrId`. */
export function taskLeases(snapshot: Snapshot, arnOrId: string): string[] {
  const found = findTask(snapshot, arnOrId);
  return found.record ? [found.record.lease] : [];
}

function findTask(
  snapshot: Snapshot,
  arnOrId: string,
): { record?: StoredRecord; tombstone?: TombstoneEntry; ref: { clusterName?: string; taskId: string } } {
  const ref = parseTaskRef(arnOrId);
  const matches = (key: string) => {
    const parts = stateKeyParts(key);
    return parts.taskId === ref.taskId && (ref.clusterName === undefined || parts.clusterName === ref.clusterName);
  };
  return {
    ref,
    record: snapshot.records.find((s) => matches(s.key)),
    tombstone: snapshot.tombstones.find((t) => matches(t.key)),
  };
}

/**
 * Everything about one task (by ARN or ID) and the reasons it is or is not published.
 *
 * @param leases must hold the record's lease (see {@link taskLeases}).
 */
export function viewTask(snapshot: Snapshot, leases: LeaseTable, arnOrId: string): TaskView {
  const { record, tombstone, ref } = findTask(snapshot, arnOrId);
  const taskArn = record?.record.taskArn ?? tombstone?.taskArn;
  const byKey = new Map(snapshot.endpoints.map((kv) => [kv.key, kv]));
  const keys: TaskKey[] = [];
  for (const key of record?.record.keys ?? []) {
    const kv = byKey.get(key);
    keys.push({
      key,
      listed: true,
      exists: kv !== undefined,
      onTaskLease: kv?.lease === record?.lease,
      lease: kv?.lease,
      address: kv && describeEndpointKey(snapshot.registryPrefix, kv).address,
    });
  }
  // Keys that name this task but are not in its record: left behind, and still dialled by clients.
  for (const kv of snapshot.endpoints) {
    if (keys.some((k) => k.key === kv.key)) continue;
    const about = describeEndpointKey(snapshot.registryPrefix, kv);
    if (about.taskId === ref.taskId || (taskArn !== undefined && about.taskArn === taskArn))
      keys.push({
        key: kv.key,
        listed: false,
        exists: true,
        onTaskLease: kv.lease === record?.lease,
        lease: kv.lease,
        address: about.address,
      });
  }
  const leaseStatus = record && (leases.get(record.lease) ?? { state: 'unknown' as const, error: 'not read' });
  const lease = record && leaseStatus ? { id: record.lease, ...leaseStatus } : undefined;
  const live = keys.filter((k) => k.listed && k.exists && k.onTaskLease);
  const published = record?.record.state === RecordState.Registered && lease?.state === 'alive' && live.length > 0;
  return {
    taskId: ref.taskId,
    taskArn,
    clusterName: ref.clusterName ?? (record ? stateKeyParts(record.key).clusterName : tombstone?.clusterName),
    record,
    tombstone,
    keys,
    lease,
    published,
    why: explain({ record, tombstone, keys, lease, published }),
  };
}

/** The reasons behind a task's state, for people. */
export function explain(view: Pick<TaskView, 'record' | 'tombstone' | 'keys' | 'lease' | 'published'>): string[] {
  const { record, tombstone, keys, lease } = view;
  const why: string[] = [];
  if (tombstone) {
    const stop = tombstone.error
      ? `tombstoned: the tombstone is unreadable (${tombstone.error})`
      : `tombstoned: stopped at ${tombstone.stoppedAt}, version ${tombstone.version}; ` +
        'later events for it up to that version are ignored while the tombstone lasts';
    why.push(stop);
    if (record) why.push('inconsistent: the task also has a record (run `check`)');
  }
  if (!record) {
    if (!tombstone)
      why.push(
        'no record: never registered, or its lease expired (renew registers it again on its next tick if ECS lists it running)',
      );
  } else {
    const r = record.record;
    if (r.state === RecordState.Pending)
      why.push(
        'pending: waiting for ECS to report HEALTHY' +
          (r.gatedContainers.length > 0 ? ` (health-checked containers: ${r.gatedContainers.join(', ')})` : ''),
      );
    else if (r.state === RecordState.Withdrawn)
      why.push('withdrawn: ECS said UNHEALTHY; published again once ECS reports HEALTHY');
    else if (r.state === RecordState.Empty)
      why.push(
        'empty: the task publishes no port (no port mappings, every container skipped or not running, ' +
          'or no address of ENDPOINT_ADDRESS_FAMILY; the register log says which)',
      );
    why.push(...explainPorts(r));
    if (lease && lease.state === 'expired')
      why.push(
        `lease ${lease.id} expired: its keys are gone; renew restores the task on its next tick if ECS says it runs`,
      );
    if (lease && lease.state === 'unknown') why.push(`lease ${lease.id}: TTL could not be read (${lease.error})`);
    const missing = keys.filter((k) => k.listed && !k.exists).map((k) => k.key);
    const foreign = keys.filter((k) => k.listed && k.exists && !k.onTaskLease);
    if (missing.length > 0) why.push(`keys missing: ${missing.join(', ')} (listed in the record, absent in etcd)`);
    for (const k of foreign)
      why.push(`key ${k.key} hangs on lease ${k.lease}, not the task's lease ${record.lease} (another task holds it)`);
    if (view.published) {
      const live = keys.filter((k) => k.listed && k.exists && k.onTaskLease);
      const ttl = lease?.state === 'alive' && lease.ttl !== undefined ? ` (TTL ${lease.ttl} s)` : '';
      why.unshift(
        `published: ${live.length} of ${r.keys.length} keys on lease ${record.lease}${ttl}, version ${r.version}`,
      );
    }
  }
  for (const k of keys.filter((k) => !k.listed))
    why.push(
      `key ${k.key} names this task but is in no record of it: clients still dial ${k.address ?? 'it'} (run \`check\`)`,
    );
  return why;
}
