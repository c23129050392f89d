import { describe, expect, it } from 'vitest';
import { listRows } from '../../../../lib/cli/commands/ls';
import { arn, consistent, snapshot, value } from '../../../kit/registry-snapshot';

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
