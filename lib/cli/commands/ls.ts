/**
 * `ls`, pure: the endpoint listing of a registry snapshot, with the tasks that publish nothing. No
 * I/O here.
 */
import type { RecordState } from '../../decide';
import type { StoredRecord } from '../../etcd/registry';
import { stateKeyParts } from '../../keys';
import type { LeaseTable, Snapshot } from '../snapshot';
import { describeEndpointKey, owners, taskIdOf, ttlOf } from './common';

/** One line of `ls`: an endpoint key, or a task that publishes none. */
export interface ListRow {
  /** Service name; `undefined` for a task with no endpoint key (its service is known only once published). */
  readonly service?: string;
  /** `ip:port` clients dial; `undefined` when nothing is published. */
  readonly address?: string;
  readonly taskId?: string;
  readonly taskArn?: string;
  readonly cluster?: string;
  /** The record's state, or `orphan` for an endpoint key no record owns. */
  readonly state: RecordState | 'orphan';
  /** Seconds the lease has left; `undefined` when it expired or could not be read. */
  readonly ttl?: number;
  /** The endpoint key, when there is one. */
  readonly key?: string;
  /** The lease the key or record hangs on. */
  readonly leaseId?: string;
  /** What is wrong with this line (a key the record lists is missing, a key no record owns). */
  readonly problem?: string;
}

/** The columns of an `ls` row that come from the task's record. */
function taskColumns(
  stored: StoredRecord,
  leases: LeaseTable,
): Pick<ListRow, 'taskId' | 'taskArn' | 'cluster' | 'state' | 'ttl' | 'leaseId'> {
  const { record } = stored;
  return {
    taskId: taskIdOf(record.taskArn),
    taskArn: record.taskArn,
    cluster: stateKeyParts(stored.key).clusterName,
    state: record.state,
    ttl: ttlOf(leases.get(stored.lease)),
    leaseId: stored.lease,
  };
}

/**
 * The `ls` listing: one row per endpoint key (with its owning task, or `orphan`), one row per task
 * that publishes nothing (pending, withdrawn, empty), and one per key a record lists but etcd
 * lacks. Sorted by service, address, task.
 *
 * @param options.service only this service's rows (tasks without keys have no known service and are left out).
 */
export function listRows(
  snapshot: Snapshot,
  leases: LeaseTable,
  options: { readonly service?: string } = {},
): ListRow[] {
  const owned = owners(snapshot);
  const byKey = new Map(snapshot.endpoints.map((kv) => [kv.key, kv]));
  const rows: ListRow[] = [];
  for (const kv of snapshot.endpoints) {
    const about = describeEndpointKey(snapshot.registryPrefix, kv);
    const owner = owned.get(`${kv.key}\u0000${kv.lease}`);
    if (owner) {
      rows.push({
        ...taskColumns(owner, leases),
        service: about.service,
        address: about.address,
        key: kv.key,
        problem: leases.get(owner.lease)?.state === 'alive' ? undefined : 'lease not alive',
      });
    } else {
      rows.push({
        service: about.service,
        address: about.address,
        taskId: about.taskId,
        taskArn: about.taskArn,
        state: 'orphan',
        ttl: ttlOf(leases.get(kv.lease)),
        key: kv.key,
        leaseId: kv.lease === '0' ? undefined : kv.lease,
        problem: 'no record owns this key',
      });
    }
  }
  for (const stored of snapshot.records) {
    const { record } = stored;
    const base = taskColumns(stored, leases);
    if (record.keys.length === 0) rows.push(base);
    for (const key of record.keys) {
      const kv = byKey.get(key);
      if (kv?.lease === stored.lease) continue; // listed above
      const service = describeEndpointKey(snapshot.registryPrefix, { key, value: '', lease: '0' }).service;
      rows.push({
        ...base,
        service,
        key,
        problem: kv ? `key hangs on lease ${kv.lease}, not the task's` : 'key missing',
      });
    }
  }
  const wanted = options.service === undefined ? rows : rows.filter((r) => r.service === options.service);
  // Code-point order (not localeCompare: ICU collation is slow at 100,000 rows); absent values last.
  const text = (s: string | undefined) => s ?? '\uffff';
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return wanted.sort(
    (a, b) =>
      compare(text(a.service), text(b.service)) ||
      compare(text(a.address), text(b.address)) ||
      compare(text(a.taskId), text(b.taskId)),
  );
}
