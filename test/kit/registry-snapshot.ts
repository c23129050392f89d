/**
 * Builders of registry snapshots, as the CLI reads them from etcd, for the tests of its pure
 * commands (ls, check, show): task records on leases, endpoint keys, lease tables.
 */
import { RecordState, type TaskRecord } from '../../lib/decide';
import type { StoredRecord } from '../../lib/etcd/registry';
import type { LeaseStatus, Snapshot } from '../../lib/cli/snapshot';

/** The cluster every built record belongs to (`prod`). */
export const CLUSTER = 'arn:aws:ecs:us-west-2:111122223333:cluster/prod';
/** The ARN of task `id` of {@link CLUSTER}. */
export const arn = (id: string) => `arn:aws:ecs:us-west-2:111122223333:task/prod/${id}`;
/** An endpoint key's value: the address clients dial and the task that wrote it. */
export const value = (addr: string, taskArn: string) =>
  JSON.stringify({ Op: 0, Addr: addr, Metadata: JSON.stringify({ taskArn }) });

/** The stored record of task `id` on `lease`, listing `keys`. */
export function stored(
  id: string,
  lease: string,
  state: RecordState,
  keys: string[],
  extra: Partial<TaskRecord> = {},
): StoredRecord {
  return {
    key: `registrar/tasks/prod/${id}`,
    lease,
    modRevision: '5',
    record: {
      taskArn: arn(id),
      clusterArn: CLUSTER,
      version: 3,
      state,
      leaseId: lease,
      keys,
      taskDefinitionArn: 'td:1',
      gatedContainers: state === 'pending' ? ['app'] : [],
      updatedAt: '2026-01-01T00:00:00.000Z',
      ...extra,
    },
  };
}

/** A snapshot of prefixes `services` (registry) and `registrar` (state) holding `parts`. */
export function snapshot(
  parts: Partial<Pick<Snapshot, 'records' | 'endpoints' | 'tombstones' | 'invalidRecords'>>,
): Snapshot {
  return {
    revision: '9',
    registryPrefix: 'services',
    statePrefix: 'registrar',
    records: [],
    endpoints: [],
    tombstones: [],
    invalidRecords: [],
    ...parts,
  };
}

/** A live lease with `ttl` seconds left. */
export const alive = (ttl: number): LeaseStatus => ({ state: 'alive', ttl });
/** A lease table from lease ID → status. */
export const leases = (entries: Record<string, LeaseStatus>) => new Map(Object.entries(entries));

/** Two healthy tasks of `api`, one pending task, all on live leases. */
export function consistent() {
  const a = stored('aaa', '11', RecordState.Registered, ['services/api/aaa:8080']);
  const b = stored('bbb', '12', RecordState.Registered, ['services/api/bbb:8080']);
  const p = stored('ppp', '13', RecordState.Pending, []);
  return {
    snap: snapshot({
      records: [a, b, p],
      endpoints: [
        { key: 'services/api/aaa:8080', value: value('10.0.0.1:8080', arn('aaa')), lease: '11' },
        { key: 'services/api/bbb:8080', value: value('10.0.0.2:8080', arn('bbb')), lease: '12' },
      ],
    }),
    leases: leases({ '11': alive(170), '12': alive(160), '13': alive(150) }),
  };
}

/** A task whose port was guessed (`guessed`) and one whose port was marked (`marked`), both of `api`. */
export function portRecords(): { guessed: StoredRecord; marked: StoredRecord } {
  const ports = [
    {
      service: 'api',
      container: 'app',
      containerPort: 50051,
      rule: 'ambiguous' as const,
      reason: 'guessed among 2 unmarked TCP ports',
    },
  ];
  const guessed = stored('g1', '100', RecordState.Registered, ['services/api/g1:50051'], { ports });
  const marked = stored('m1', '101', RecordState.Registered, ['services/api/m1:50051'], {
    ports: [{ ...ports[0]!, rule: 'app-protocol', reason: 'marked appProtocol grpc' }],
  });
  return { guessed, marked };
}
