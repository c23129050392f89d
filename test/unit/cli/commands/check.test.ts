import { describe, expect, it } from 'vitest';
import { parseTombstoneEntry } from '../../../../lib/cli/snapshot';
import { RecordState } from '../../../../lib/decide';
import { checkSnapshot, persistentProblems, portWarnings, ProblemKind } from '../../../../lib/cli/commands/check';
import { arn, consistent, leases, portRecords, snapshot, stored, value } from '../../../kit/registry-snapshot';

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

describe('which port was chosen and why (check)', () => {
  const { guessed, marked } = portRecords();

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
