import { describe, expect, it } from 'vitest';
import { formatList, formatPlan, formatProblems, formatTable, formatTtl } from '../../../lib/cli/format';
import { ProblemKind } from '../../../lib/cli/commands/check';

describe('formatTable', () => {
  it('aligns every column on its widest cell and ends no line in spaces', () => {
    expect(
      formatTable(
        ['A', 'LONG'],
        [
          ['wide cell', 'x'],
          ['y', ''],
        ],
      ),
    ).toBe('A          LONG\nwide cell  x\ny\n');
  });
});

describe('formatList', () => {
  it('prints one aligned row per endpoint, with a problem after the state and - for what is absent', () => {
    const text = formatList([
      { service: 'api', address: '10.0.0.1:8080', taskId: 'aaa', state: 'registered', ttl: 170 },
      { taskId: 'ppp', state: 'pending', ttl: 9 },
      { service: 'api', address: '10.0.0.9:8080', taskId: 'zzz', state: 'orphan', problem: 'no record owns this key' },
    ]);
    expect(text.split('\n')).toEqual([
      'SERVICE  ADDRESS        TASK  STATE                             TTL',
      'api      10.0.0.1:8080  aaa   registered                        170s',
      '-        -              ppp   pending                           9s',
      'api      10.0.0.9:8080  zzz   orphan (no record owns this key)  -',
      '',
    ]);
  });
  it('says so when nothing is registered', () => {
    expect(formatList([])).toBe('nothing registered\n');
  });
});

describe('formatProblems and formatPlan', () => {
  it('counts what was checked, and lists each problem', () => {
    const counted = { records: 2, keys: 3, tombstones: 1 };
    expect(formatProblems([], counted)).toBe('consistent: 2 records, 3 endpoint keys, 1 tombstones\n');
    const text = formatProblems(
      [
        {
          kind: ProblemKind.OrphanKey,
          key: 'services/api/x:1',
          message: 'endpoint key on no lease that no task record owns',
        },
      ],
      counted,
    );
    expect(text).toContain('orphan-key  services/api/x:1  endpoint key on no lease that no task record owns\n');
    expect(text).toMatch(/1 problem in 2 records, 3 endpoint keys, 1 tombstones\n$/);
  });
  it('lists planned changes, or says there are none', () => {
    expect(formatPlan([])).toBe('no changes: renew would only renew leases\n');
    expect(formatPlan([{ taskArn: 'arn:t', action: 'deregister', reason: 'ECS reports the task MISSING' }])).toBe(
      'ACTION      TASK   REASON\nderegister  arn:t  ECS reports the task MISSING\n',
    );
  });
  it('shows a TTL in seconds, or - without one', () => {
    expect([formatTtl(3), formatTtl(undefined)]).toEqual(['3s', '-']);
  });
});
