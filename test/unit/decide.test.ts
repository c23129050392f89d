import { describe, expect, it } from 'vitest';
import {
  decideKeyClaim,
  decideRenew,
  decideWrite,
  evaluateHealth,
  Health,
  RecordState,
  RenewAction,
  targetState,
  WriteSource,
} from '../../lib/decide';
import type { TaskSnapshot } from '../../lib/ecs/task';
import { taskSnapshot } from '../kit/events';

const task = (changes: Partial<TaskSnapshot> = {}): TaskSnapshot => taskSnapshot('abc', changes);

describe('decideWrite (ordering)', () => {
  const event = (version: number) => ({ version, source: WriteSource.Event });
  it('writes a task etcd does not know', () => expect(decideWrite(event(3), {})).toEqual({ write: true }));
  it('ignores a redelivered event (same version) as a duplicate', () =>
    expect(decideWrite(event(3), { record: { version: 3 } })).toEqual({ write: false, reason: 'duplicate' }));
  it('ignores an older event as stale', () =>
    expect(decideWrite(event(2), { record: { version: 3 } })).toEqual({ write: false, reason: 'stale' }));
  it('applies a newer event', () => expect(decideWrite(event(4), { record: { version: 3 } })).toEqual({ write: true }));
  it('ignores any start of a task that was stopped, whatever its version', () =>
    expect(decideWrite(event(99), { tombstone: { version: 4 } })).toEqual({ write: false, reason: 'stopped' }));
  it("lets ECS's own answer refresh a record at the same version", () =>
    expect(decideWrite({ version: 3, source: WriteSource.Ecs }, { record: { version: 3 } })).toEqual({ write: true }));
  it("never lets ECS's answer go back in version", () =>
    expect(decideWrite({ version: 2, source: WriteSource.Ecs }, { record: { version: 3 } })).toEqual({
      write: false,
      reason: 'stale',
    }));
});

describe('evaluateHealth (health gate)', () => {
  it('is ready without a health check, whatever ECS says', () =>
    expect(evaluateHealth(task({ healthStatus: 'UNKNOWN' }), [])).toBe(Health.Ready));
  it('is pending with a health check until ECS says HEALTHY', () =>
    expect(evaluateHealth(task(), ['app'])).toBe(Health.Pending));
  it('is ready when the task is HEALTHY', () =>
    expect(evaluateHealth(task({ healthStatus: 'HEALTHY' }), ['app'])).toBe(Health.Ready));
  it('is ready when every gated container is HEALTHY', () =>
    expect(
      evaluateHealth(task({ containers: [{ name: 'app', healthStatus: 'HEALTHY', networkBindings: [] }] }), ['app']),
    ).toBe(Health.Ready));
  it('is unhealthy when the task is UNHEALTHY, even without a check of ours', () =>
    expect(evaluateHealth(task({ healthStatus: 'UNHEALTHY' }), [])).toBe(Health.Unhealthy));
  it('is unhealthy when a gated container is UNHEALTHY', () =>
    expect(
      evaluateHealth(
        task({
          healthStatus: 'HEALTHY',
          containers: [{ name: 'app', healthStatus: 'UNHEALTHY', networkBindings: [] }],
        }),
        ['app'],
      ),
    ).toBe(Health.Unhealthy));
});

describe('targetState', () => {
  it.each([
    [Health.Ready, 2, RecordState.Registered],
    [Health.Ready, 0, RecordState.Empty],
    [Health.Pending, 2, RecordState.Pending],
    [Health.Unhealthy, 2, RecordState.Withdrawn],
  ])('%s with %i endpoints → %s', (health, count, state) => expect(targetState(health, count)).toBe(state));
});

describe('decideRenew', () => {
  const record = (state: RecordState, gated: string[] = []) => ({ state, version: 5, gatedContainers: gated });
  it('removes a task ECS reports missing', () =>
    expect(decideRenew(record(RecordState.Registered), undefined)).toBe(RenewAction.Deregister));
  it('removes a task ECS is stopping (desiredStatus STOPPED while RUNNING)', () =>
    expect(decideRenew(record(RecordState.Registered), task({ desiredStatus: 'STOPPED' }))).toBe(
      RenewAction.Deregister,
    ));
  it('removes a stopped task', () =>
    expect(decideRenew(record(RecordState.Registered), task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED' }))).toBe(
      RenewAction.Deregister,
    ));
  it('keeps a running healthy task alive', () =>
    expect(decideRenew(record(RecordState.Registered), task())).toBe(RenewAction.KeepAlive));
  it('rewrites a task whose version moved on', () =>
    expect(decideRenew(record(RecordState.Registered), task({ version: 6 }))).toBe(RenewAction.Register));
  it('withdraws an unhealthy task', () =>
    expect(decideRenew(record(RecordState.Registered), task({ healthStatus: 'UNHEALTHY' }))).toBe(
      RenewAction.Withdraw,
    ));
  it('keeps an already withdrawn unhealthy task without writing', () =>
    expect(decideRenew(record(RecordState.Withdrawn), task({ healthStatus: 'UNHEALTHY' }))).toBe(
      RenewAction.KeepAlive,
    ));
  it('publishes a pending task once ECS says HEALTHY', () =>
    expect(decideRenew(record(RecordState.Pending, ['app']), task({ healthStatus: 'HEALTHY' }))).toBe(
      RenewAction.Register,
    ));
  it('keeps a pending task pending while its health is unknown', () =>
    expect(decideRenew(record(RecordState.Pending, ['app']), task({ healthStatus: 'UNKNOWN' }))).toBe(
      RenewAction.KeepAlive,
    ));
  it('publishes a withdrawn task again once healthy', () =>
    expect(decideRenew(record(RecordState.Withdrawn), task({ healthStatus: 'HEALTHY' }))).toBe(RenewAction.Register));
  it('leaves a task still starting alone', () =>
    expect(decideRenew(record(RecordState.Registered), task({ lastStatus: 'PENDING' }))).toBe(RenewAction.KeepAlive));
});

describe('decideKeyClaim (a reused ip:port)', () => {
  const me = { taskArn: 'arn:new', startedAt: '2026-11-20T09:30:00.000Z' };
  it('takes a key from a task that started earlier', () => {
    expect(decideKeyClaim(me, { taskArn: 'arn:old', startedAt: '2026-11-20T08:00:00.000Z' })).toEqual({ take: true });
  });
  it('leaves a key with a task that started later, saying who and when', () => {
    expect(
      decideKeyClaim(
        { taskArn: 'arn:old', startedAt: '2026-11-20T08:00:00.000Z' },
        { taskArn: 'arn:new', startedAt: me.startedAt },
      ),
    ).toEqual({
      take: false,
      reason:
        'held by task arn:new, which started at 2026-11-20T09:30:00.000Z, not before this task (2026-11-20T08:00:00.000Z)',
    });
  });
  it('leaves a key with a task that started at the same moment (no churn between two claims)', () => {
    expect(decideKeyClaim(me, { taskArn: 'arn:other', startedAt: me.startedAt })).toMatchObject({ take: false });
  });
  it('leaves a key with a task of known start when this task’s start is unknown', () => {
    expect(
      decideKeyClaim({ taskArn: 'arn:x' }, { taskArn: 'arn:old', startedAt: '2026-11-20T08:00:00.000Z' }),
    ).toMatchObject({
      take: false,
      reason: expect.stringContaining("this task's start time is unknown"),
    });
  });
  it('takes its own key back from an older lease of its own', () => {
    expect(decideKeyClaim(me, { taskArn: 'arn:new', startedAt: me.startedAt })).toEqual({ take: true });
  });
  it('takes a key no task holds, or whose holder’s start is unknown (records written before start times were kept)', () => {
    expect(decideKeyClaim(me, {})).toEqual({ take: true });
    expect(decideKeyClaim(me, { taskArn: 'arn:legacy' })).toEqual({ take: true });
    expect(decideKeyClaim(me, { taskArn: 'arn:legacy', startedAt: 'not a time' })).toEqual({ take: true });
  });
});

describe('decideWrite for a pending check (follow-up, drain check)', () => {
  const check = { version: 3, source: WriteSource.PendingCheck };
  it('writes while the record is pending', () =>
    expect(decideWrite(check, { record: { version: 3, state: RecordState.Pending } })).toEqual({ write: true }));
  it('does not write again once another check published or withdrew it', () => {
    expect(decideWrite(check, { record: { version: 3, state: RecordState.Registered } })).toEqual({
      write: false,
      reason: 'duplicate',
    });
    expect(decideWrite(check, { record: { version: 3, state: RecordState.Withdrawn } })).toEqual({
      write: false,
      reason: 'duplicate',
    });
  });
  it('does not bring back a task whose record is gone or that stopped', () => {
    expect(decideWrite(check, {})).toEqual({ write: false, reason: 'duplicate' });
    expect(
      decideWrite(check, { record: { version: 3, state: RecordState.Pending }, tombstone: { version: 5 } }),
    ).toEqual({ write: false, reason: 'stopped' });
  });
});
