import { describe, expect, it } from 'vitest';
import { RecordState, type TaskRecord } from '../../../lib/decide';
import type { StoredRecord } from '../../../lib/etcd/registry';
import {
  checkSnapshot,
  describeEndpointKey,
  explain,
  listRows,
  persistentProblems,
  portWarnings,
  ProblemKind,
  viewTask,
} from '../../../lib/cli/inspect';
import type { LeaseStatus, Snapshot } from '../../../lib/cli/snapshot';
import { parseTombstoneEntry } from '../../../lib/cli/snapshot';

const CLUSTER = 'arn:aws:ecs:us-west-2:111122223333:cluster/prod';
const arn = (id: string) => `arn:aws:ecs:us-west-2:111122223333:task/prod/${id}`;
const value = (addr: string, taskArn: string) =>
  JSON.stringify({ Op: 0, Addr: addr, Metadata: JSON.stringify({ taskArn }) });

function stored(
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

function snapshot(parts: Partial<Pick<Snapshot, 'records' | 'endpoints' | 'tombstones' | 'invalidRecords'>>): Snapshot {
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

const alive = (ttl: number): LeaseStatus => ({ state: 'alive', ttl });
const leases = (entries: Record<string, LeaseStatus>) => new Map(Object.entries(entries));

/** Two healthy tasks of `api`, one pending task, all on live leases. */
function consistent() {
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

describe('describeEndpointKey', () => {
  it('takes the service from the key, the address and task from the value', () => {
    expect(
      describeEndpointKey('services', {
        key: 'services/api/aaa:8080',
        value: value('10.0.0.1:8080', arn('aaa')),
        lease: '1',
      }),
    ).toEqual({
      service: 'api',
      address: '10.0.0.1:8080',
      taskArn: arn('aaa'),
      taskId: 'aaa',
    });
  });
  it('takes the task id from a task-format key when the value carries none, and none from an address key', () => {
    expect(describeEndpointKey('', { key: 'api/aaa:8080', value: '10.0.0.1:8080', lease: '1' })).toMatchObject({
      service: 'api',
      address: '10.0.0.1:8080',
      taskId: 'aaa',
    });
    expect(
      describeEndpointKey('services', { key: 'services/api/10.0.0.1:8080', value: '10.0.0.1:8080', lease: '1' }).taskId,
    ).toBeUndefined();
  });
});

describe('listRows', () => {
  it('lists every endpoint with its task, state and TTL, and tasks that publish nothing', () => {
    const { snap, leases: l } = consistent();
    expect(listRows(snap, l)).toEqual([
      expect.objectContaining({
        service: 'api',
        address: '10.0.0.1:8080',
        taskId: 'aaa',
        state: 'registered',
        ttl: 170,
      }),
      expect.objectContaining({
        service: 'api',
        address: '10.0.0.2:8080',
        taskId: 'bbb',
        state: 'registered',
        ttl: 160,
      }),
      expect.objectContaining({ taskId: 'ppp', state: 'pending', ttl: 150 }),
    ]);
    const [healthy, , pending] = listRows(snap, l);
    expect(healthy!.problem).toBeUndefined();
    expect([pending!.service, pending!.address, pending!.key]).toEqual([undefined, undefined, undefined]);
  });

  it('filters by service, leaving out tasks whose service is not known', () => {
    const { snap, leases: l } = consistent();
    const more = snapshot({
      ...snap,
      endpoints: [
        ...snap.endpoints,
        { key: 'services/web/ccc:80', value: value('10.0.0.3:80', arn('ccc')), lease: '14' },
      ],
    });
    expect(listRows(more, l, { service: 'api' }).map((r) => r.taskId)).toEqual(['aaa', 'bbb']);
    expect(listRows(more, l, { service: 'web' }).map((r) => r.taskId)).toEqual(['ccc']);
  });

  it('shows orphan keys and keys a record lists but etcd lacks', () => {
    const { snap, leases: l } = consistent();
    const broken = snapshot({
      ...snap,
      endpoints: [
        snap.endpoints[1]!,
        { key: 'services/api/zzz:8080', value: value('10.0.0.9:8080', arn('zzz')), lease: '99' },
      ],
    });
    const rows = listRows(broken, l);
    expect(rows).toContainEqual(
      expect.objectContaining({
        taskId: 'zzz',
        address: '10.0.0.9:8080',
        state: 'orphan',
        problem: 'no record owns this key',
      }),
    );
    const missing = rows.find((r) => r.taskId === 'aaa');
    expect(missing).toMatchObject({
      service: 'api',
      key: 'services/api/aaa:8080',
      state: 'registered',
      problem: 'key missing',
    });
    expect(missing!.address).toBeUndefined();
  });
});

describe('checkSnapshot', () => {
  it('finds nothing wrong in a consistent registry', () => {
    const { snap, leases: l } = consistent();
    expect(checkSnapshot(snap, l)).toEqual([]);
  });

  it('reports a missing key, an orphan key and a key on another lease', () => {
    const { snap, leases: l } = consistent();
    const broken = snapshot({
      ...snap,
      endpoints: [
        { key: 'services/api/bbb:8080', value: value('10.0.0.2:8080', arn('bbb')), lease: '77' },
        { key: 'services/api/zzz:8080', value: value('10.0.0.9:8080', arn('zzz')), lease: '0' },
      ],
    });
    const problems = checkSnapshot(broken, l);
    expect(problems.map((p) => [p.kind, p.key])).toEqual([
      [ProblemKind.KeyMissing, 'services/api/aaa:8080'],
      [ProblemKind.KeyOnOtherLease, 'services/api/bbb:8080'],
      [ProblemKind.OrphanKey, 'services/api/bbb:8080'],
      [ProblemKind.OrphanKey, 'services/api/zzz:8080'],
    ]);
    expect(problems[3]!.message).toContain('no lease');
  });

  it('reports an expired or unreadable lease, a lease mismatch, a record with a tombstone, state mismatches and unreadable values', () => {
    const a = stored('aaa', '11', RecordState.Registered, [], { leaseId: '12' });
    const p = stored('ppp', '13', RecordState.Pending, ['services/api/ppp:1']);
    const snap = snapshot({
      records: [a, p],
      endpoints: [{ key: 'services/api/ppp:1', value: '10.0.0.5:1', lease: '13' }],
      tombstones: [
        parseTombstoneEntry(
          'registrar/tombstones/prod/aaa',
          JSON.stringify({ taskArn: arn('aaa'), version: 4, stoppedAt: 'x' }),
        ),
        parseTombstoneEntry('registrar/tombstones/prod/bad', '{'),
      ],
      invalidRecords: [{ key: 'registrar/tasks/prod/junk', error: 'Unexpected token' }],
    });
    const problems = checkSnapshot(snap, leases({ '13': { state: 'unknown', error: 'timeout' } }));
    expect(problems.map((p) => p.kind)).toEqual([
      ProblemKind.UnreadableRecord,
      ProblemKind.UnreadableTombstone,
      ProblemKind.LeaseNotAlive,
      ProblemKind.LeaseMismatch,
      ProblemKind.RecordAndTombstone,
      ProblemKind.StateMismatch,
      ProblemKind.LeaseNotAlive,
      ProblemKind.StateMismatch,
    ]);
    expect(problems[2]!.message).toBe('lease 11 has expired');
    expect(problems[6]!.message).toContain('TTL could not be read: timeout');
  });
});

describe('persistentProblems', () => {
  it('keeps only problems both reads show, by kind and key, as the second read found them', () => {
    const orphan = { kind: ProblemKind.OrphanKey, key: 'services/api/x:1', message: 'first' };
    const registering = { kind: ProblemKind.KeyMissing, key: 'services/api/y:1', message: 'mid-write' };
    const later = { kind: ProblemKind.OrphanKey, key: 'services/api/x:1', message: 'second' };
    const fresh = { kind: ProblemKind.LeaseNotAlive, key: 'registrar/tasks/prod/z', message: 'new' };
    expect(persistentProblems([orphan, registering], [later, fresh])).toEqual([later]);
  });
});

describe('viewTask and explain', () => {
  it('says a registered task with its keys on a live lease is published', () => {
    const { snap, leases: l } = consistent();
    const view = viewTask(snap, l, arn('aaa'));
    expect(view).toMatchObject({
      taskId: 'aaa',
      clusterName: 'prod',
      published: true,
      lease: { id: '11', state: 'alive', ttl: 170 },
    });
    expect(view.keys).toEqual([
      {
        key: 'services/api/aaa:8080',
        listed: true,
        exists: true,
        onTaskLease: true,
        lease: '11',
        address: '10.0.0.1:8080',
      },
    ]);
    expect(view.why).toEqual(['published: 1 of 1 keys on lease 11 (TTL 170 s), version 3']);
  });

  it('explains a pending task by its health-checked containers, found by its bare id', () => {
    const { snap, leases: l } = consistent();
    const view = viewTask(snap, l, 'ppp');
    expect(view.published).toBe(false);
    expect(view.why).toEqual(['pending: waiting for ECS to report HEALTHY (health-checked containers: app)']);
  });

  it('explains withdrawn, empty, tombstoned, unknown tasks and missing keys', () => {
    const base = { keys: [], published: false };
    expect(
      explain({
        ...base,
        record: stored('w', '1', RecordState.Withdrawn, []),
        lease: { id: '1', state: 'alive', ttl: 5 },
      }),
    ).toEqual(['withdrawn: ECS said UNHEALTHY; published again once ECS reports HEALTHY']);
    expect(
      explain({
        ...base,
        record: stored('e', '1', RecordState.Empty, []),
        lease: { id: '1', state: 'alive', ttl: 5 },
      })[0],
    ).toMatch(/^empty: the task publishes no port/);
    expect(
      explain({
        ...base,
        tombstone: { key: 't', clusterName: 'prod', taskId: 't', version: 6, stoppedAt: '2026-01-01T00:00:00Z' },
      })[0],
    ).toBe(
      'tombstoned: stopped at 2026-01-01T00:00:00Z, version 6; later events for it up to that version are ignored while the tombstone lasts',
    );
    expect(explain(base)[0]).toMatch(/^no record: never registered, or its lease expired/);
    const r = stored('m', '1', RecordState.Registered, ['services/api/m:1']);
    expect(
      explain({
        ...base,
        record: r,
        lease: { id: '1', state: 'expired' },
        keys: [{ key: 'services/api/m:1', listed: true, exists: false, onTaskLease: false }],
      }),
    ).toEqual([
      'lease 1 expired: its keys are gone; renew restores the task on its next tick if ECS says it runs',
      'keys missing: services/api/m:1 (listed in the record, absent in etcd)',
    ]);
  });

  it('shows a key left behind by a task that has no record any more', () => {
    const snap = snapshot({
      endpoints: [{ key: 'services/api/old:8080', value: value('10.0.0.7:8080', arn('old')), lease: '5' }],
    });
    const view = viewTask(snap, new Map(), 'old');
    expect(view.keys).toEqual([
      {
        key: 'services/api/old:8080',
        listed: false,
        exists: true,
        onTaskLease: false,
        lease: '5',
        address: '10.0.0.7:8080',
      },
    ]);
    expect(view.why[1]).toBe(
      'key services/api/old:8080 names this task but is in no record of it: clients still dial 10.0.0.7:8080 (run `check`)',
    );
  });
});

describe('which port was chosen and why (show, check)', () => {
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

  it('show explains each chosen port with its rule', () => {
    expect(explain({ record: guessed, keys: [], published: false })).toContain(
      'port app:50051 → api (ambiguous): guessed among 2 unmarked TCP ports',
    );
  });

  it('check warns about guessed ports only, and keeps them out of the problems', () => {
    const snap = snapshot({ records: [guessed, marked] });
    expect(portWarnings(snap)).toEqual([
      {
        key: guessed.key,
        taskArn: arn('g1'),
        message: 'ambiguous port: app:50051 chosen for api: guessed among 2 unmarked TCP ports',
      },
    ]);
    expect(portWarnings(snapshot({ records: [marked] }))).toEqual([]);
  });
});
