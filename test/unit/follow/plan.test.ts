import { describe, expect, it } from 'vitest';
import type { TaskSnapshot } from '../../../lib/ecs/task';
import { HEALTH_CHECK_DEFAULTS } from '../../../lib/ecs/task-definition';
import {
  decideFollowUp,
  decideWithoutEcs,
  FOLLOW_CHECK_SECONDS,
  FOLLOW_MARGIN_SECONDS,
  followTiming,
  MAX_FOLLOW_CHECKS,
  nextDelaySeconds,
  type FollowInput,
} from '../../../lib/follow/plan';
import { taskSnapshot } from '../../kit/events';

const T0 = Date.parse('2026-12-01T12:00:00.000Z');

const task = (changes: Partial<TaskSnapshot> = {}): TaskSnapshot => taskSnapshot('abc', { version: 3, ...changes });

const input = (changes: Partial<FollowInput> = {}): FollowInput => ({
  checkEverySeconds: 3,
  giveUpAt: T0 + 120_000,
  attempt: 1,
  record: { state: 'pending', gatedContainers: ['app'] },
  tombstoned: false,
  described: task(),
  nowMs: T0 + 30_000,
  ...changes,
});

describe('followTiming', () => {
  it('with ECS defaults: first check one interval after start, then every 3 s, until the bound plus margin', () => {
    const timing = followTiming([HEALTH_CHECK_DEFAULTS], T0, T0 + 2000);
    expect(timing).toEqual({
      firstDelaySeconds: 28,
      checkEverySeconds: FOLLOW_CHECK_SECONDS,
      giveUpAt: T0 + (0 + 3 * (30 + 5) + FOLLOW_MARGIN_SECONDS) * 1000,
    });
  });

  it('a start period lengthens the bound but does not delay the first check (a probe passing during it counts)', () => {
    const timing = followTiming(
      [{ intervalSeconds: 10, timeoutSeconds: 2, retries: 5, startPeriodSeconds: 120 }],
      T0,
      T0,
    );
    expect(timing.firstDelaySeconds).toBe(10);
    expect(timing.giveUpAt).toBe(T0 + (120 + 5 * 12 + FOLLOW_MARGIN_SECONDS) * 1000);
  });

  it('checks as often as the shortest interval when it is below 3 s, and takes the longest bound of several containers', () => {
    const timing = followTiming(
      [
        { intervalSeconds: 1, timeoutSeconds: 1, retries: 2, startPeriodSeconds: 0 },
        { intervalSeconds: 20, timeoutSeconds: 5, retries: 3, startPeriodSeconds: 30 },
      ],
      T0,
      T0,
    );
    expect(timing).toEqual({
      firstDelaySeconds: 1,
      checkEverySeconds: 1,
      giveUpAt: T0 + (30 + 3 * 25 + FOLLOW_MARGIN_SECONDS) * 1000,
    });
  });

  it('uses ECS defaults for a container without timing', () =>
    expect(followTiming([undefined], T0, T0)).toEqual(followTiming([HEALTH_CHECK_DEFAULTS], T0, T0)));

  it('checks at once when the event came late (first probe already due), and never waits past SQS limits', () => {
    expect(followTiming([HEALTH_CHECK_DEFAULTS], T0 - 600_000, T0).firstDelaySeconds).toBe(0);
    expect(
      followTiming([{ ...HEALTH_CHECK_DEFAULTS, intervalSeconds: 300 }], T0 + 3_600_000, T0).firstDelaySeconds,
    ).toBe(300);
  });
});

describe('nextDelaySeconds', () => {
  it('falls due on the next multiple of the cadence, so tasks recorded apart are checked together', () => {
    expect(nextDelaySeconds(T0 + 1_000, 3)).toBe(2); // T0 is a multiple of 3 s
    expect(nextDelaySeconds(T0 + 1_900, 3)).toBe(2);
    expect(nextDelaySeconds(T0 + 2_100, 3)).toBe(1);
  });
  it('never asks for less than 1 s', () => expect(nextDelaySeconds(T0, 3)).toBe(3));
});

describe('decideWithoutEcs: only tasks still pending in etcd are worth an ECS read', () => {
  it('stops for a stopped task', () =>
    expect(decideWithoutEcs(input({ tombstoned: true, record: undefined }))).toEqual({
      action: 'done',
      reason: 'stopped (tombstone)',
    }));
  it('says unknown when etcd has no record', () =>
    expect(decideWithoutEcs(input({ record: undefined }))).toMatchObject({ action: 'unknown' }));
  it('stops for a task already published or withdrawn', () => {
    expect(decideWithoutEcs(input({ record: { state: 'registered', gatedContainers: ['app'] } }))).toEqual({
      action: 'done',
      reason: 'record is registered already',
    });
    expect(decideWithoutEcs(input({ record: { state: 'withdrawn', gatedContainers: ['app'] } }))).toEqual({
      action: 'done',
      reason: 'record is withdrawn already',
    });
  });
  it('asks ECS about a pending task', () => expect(decideWithoutEcs(input())).toBeUndefined());
});

describe('decideFollowUp', () => {
  it('writes a task ECS says is HEALTHY (task-level or every gated container)', () => {
    expect(decideFollowUp(input({ described: task({ healthStatus: 'HEALTHY' }) }))).toEqual({
      action: 'write',
      health: 'ready',
    });
    expect(
      decideFollowUp(
        input({ described: task({ containers: [{ name: 'app', healthStatus: 'HEALTHY', networkBindings: [] }] }) }),
      ),
    ).toEqual({ action: 'write', health: 'ready' });
  });

  it('writes (withdrawn) a task ECS says is UNHEALTHY', () =>
    expect(decideFollowUp(input({ described: task({ healthStatus: 'UNHEALTHY' }) }))).toEqual({
      action: 'write',
      health: 'unhealthy',
    }));

  it('publishes nothing for a task ECS says is stopping or stopped', () => {
    expect(
      decideFollowUp(input({ described: task({ desiredStatus: 'STOPPED', healthStatus: 'HEALTHY' }) })),
    ).toMatchObject({ action: 'done' });
    expect(
      decideFollowUp(input({ described: task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED' }) })),
    ).toMatchObject({ action: 'done' });
  });

  it('asks again, on the cadence, while the task is still pending within its bound', () =>
    expect(decideFollowUp(input({ described: task({ healthStatus: 'UNKNOWN' }), nowMs: T0 + 30_500 }))).toEqual({
      action: 'again',
      delaySeconds: 3,
    }));

  it('asks again when ECS answers MISSING (eventually consistent: no evidence of a stop)', () =>
    expect(decideFollowUp(input({ described: 'missing' }))).toMatchObject({ action: 'again' }));

  it('gives up when the next check would fall past the bound (renew stays in charge)', () =>
    expect(decideFollowUp(input({ nowMs: T0 + 118_500 }))).toMatchObject({
      action: 'give-up',
      reason: expect.stringContaining('renew stays in charge'),
    }));

  it('gives up after the most checks whatever the bound says', () =>
    expect(decideFollowUp(input({ attempt: MAX_FOLLOW_CHECKS, giveUpAt: T0 + 10 ** 9 }))).toMatchObject({
      action: 'give-up',
    }));

  it('never asks ECS-based questions of a task etcd does not hold pending', () => {
    expect(decideFollowUp(input({ record: undefined, described: task({ healthStatus: 'HEALTHY' }) }))).toMatchObject({
      action: 'unknown',
    });
    expect(decideFollowUp(input({ tombstoned: true, described: task({ healthStatus: 'HEALTHY' }) }))).toMatchObject({
      action: 'done',
    });
  });
});
