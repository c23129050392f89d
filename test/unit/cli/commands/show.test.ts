import { describe, expect, it } from 'vitest';
import { RecordState } from '../../../../lib/decide';
import { explain, viewTask } from '../../../../lib/cli/commands/show';
import { arn, consistent, portRecords, snapshot, stored, value } from '../../../kit/registry-snapshot';

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

describe('which port was chosen and why (show)', () => {
  const { guessed } = portRecords();

  it('show explains each chosen port with its rule', () => {
    expect(explain({ record: guessed, keys: [], published: false })).toContain(
      'port app:50051 → api (ambiguous): guessed among 2 unmarked TCP ports',
    );
  });
});
