/**
 * Pure inspections of a registry snapshot for the operator CLI: the endpoint listing, the
 * consistency check and the explanation of why one task is or is not published. No I/O here.
 */
import { RecordState, type TaskRecord } from '../decide';
import { parseEndpoint } from '../discovery/parse';
import { parseTaskRef } from '../ecs/arn';
import type { StoredRecord } from '../etcd/registry';
import { stateKeyParts } from '../keys';
import { ChoiceRule } from '../port-selection';
import type { KeyValue, LeaseStatus, LeaseTable, Snapshot, TombstoneEntry } from './snapshot';

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

/** The ID at the end of a task ARN. */
const taskIdOf = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

/** What an endpoint key says about itself: its service, address and (where written) its task. */
export function describeEndpointKey(
  registryPrefix: string,
  kv: KeyValue,
): { service: string; address?: string; taskArn?: string; taskId?: string } {
  const rest = registryPrefix === '' ? kv.key : kv.key.slice(registryPrefix.length + 1);
  const slash = rest.indexOf('/');
  const service = slash < 0 ? rest : rest.slice(0, slash);
  const last = slash < 0 ? '' : rest.slice(slash + 1);
  const parsed = parseEndpoint(kv.key, kv.value);
  const metaArn = typeof parsed?.metadata?.taskArn === 'string' ? parsed.metadata.taskArn : undefined;
  // With KEY_FORMAT=task the last segment is `<task-id>:<port>`; an address there has dots or brackets.
  const fromKey =
    /^[A-Za-z0-9-]+:\d+$/.test(last) && !/^\d+\.\d+/.test(last) ? last.slice(0, last.lastIndexOf(':')) : undefined;
  return { service, address: parsed?.addr, taskArn: metaArn, taskId: metaArn ? taskIdOf(metaArn) : fromKey };
}

const ttlOf = (lease: LeaseStatus | undefined) => (lease?.state === 'alive' ? lease.ttl : undefined);

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

/** The record owning an endpoint key: one that lists it and hangs on the key's lease. */
function owners(snapshot: Snapshot): Map<string, StoredRecord> {
  const owned = new Map<string, StoredRecord>();
  for (const stored of snapshot.records)
    for (const key of stored.record.keys) owned.set(`${key}\u0000${stored.lease}`, stored);
  return owned;
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

/** One line per chosen port of a record: which port, under which service, and why. */
export function explainPorts(record: Pick<TaskRecord, 'ports'>): string[] {
  return (record.ports ?? []).map(
    (p) => `port ${p.container}:${p.containerPort} → ${p.service} (${p.rule}): ${p.reason}`,
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
