import { describe, expect, it } from 'vitest';
import { isThrottling, ReadBudget, throttleBackoffMs, type Clock } from '../../../lib/ecs/budget';

/** A clock that only moves when told; `sleep` records when each read would start. */
function fakeClock() {
  const clock = {
    t: 0,
    starts: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number) => void clock.starts.push(clock.t + ms),
  };
  return clock satisfies Clock;
}

/** Takes `n` reads at the clock's current time and returns when each starts. */
async function startsOf(
  budget: ReadBudget,
  clock: ReturnType<typeof fakeClock>,
  n: number,
  deadline?: number,
): Promise<(number | false)[]> {
  const out: (number | false)[] = [];
  for (let i = 0; i < n; i++) {
    const before = clock.starts.length;
    const ok = await budget.take({ deadline });
    out.push(ok ? (clock.starts.length > before ? clock.starts[clock.starts.length - 1]! : clock.t) : false);
  }
  return out;
}

describe('ReadBudget', () => {
  it('lets one second of reads start at once, then paces them at the rate', async () => {
    const clock = fakeClock();
    const budget = new ReadBudget({ readsPerSecond: 2, clock });
    expect(await startsOf(budget, clock, 5)).toEqual([0, 0, 500, 1000, 1500]);
    expect(budget.taken).toBe(5);
  });

  it('never bursts beyond one second of reads, however long it was idle', async () => {
    const clock = fakeClock();
    const budget = new ReadBudget({ readsPerSecond: 4, clock });
    await startsOf(budget, clock, 2);
    clock.t = 60_000;
    expect(await startsOf(budget, clock, 6)).toEqual([60_000, 60_000, 60_000, 60_000, 60_250, 60_500]);
  });

  it('with a burst of 1 spaces every read by the interval', async () => {
    const clock = fakeClock();
    const budget = new ReadBudget({ readsPerSecond: 1, burst: 1, clock });
    expect(await startsOf(budget, clock, 3)).toEqual([0, 1000, 2000]);
  });

  it('refuses a read whose slot comes after the deadline, and reserves nothing for it', async () => {
    const clock = fakeClock();
    const budget = new ReadBudget({ readsPerSecond: 2, clock });
    expect(await startsOf(budget, clock, 4, 600)).toEqual([0, 0, 500, false]);
    expect(budget.taken).toBe(3);
    expect(budget.nextStart()).toBe(1000);
    expect(await startsOf(budget, clock, 1)).toEqual([1000]);
  });

  it('pauses every caller after a throttling answer, and spends the burst', async () => {
    const clock = fakeClock();
    const budget = new ReadBudget({ readsPerSecond: 2, clock });
    budget.pause(2000);
    expect(await startsOf(budget, clock, 2)).toEqual([2000, 2500]);
  });

  it('rejects a rate that is not positive', () => {
    expect(() => new ReadBudget({ readsPerSecond: 0 })).toThrow(/readsPerSecond must be positive/);
  });
});

describe('isThrottling', () => {
  const named = (name: string) => Object.assign(new Error('x'), { name });
  it('recognises ECS and EC2 throttling answers and the SDK flag', () => {
    expect(isThrottling(named('ThrottlingException'))).toBe(true);
    expect(isThrottling(named('RequestLimitExceeded'))).toBe(true);
    expect(isThrottling(Object.assign(new Error('x'), { $retryable: { throttling: true } }))).toBe(true);
  });
  it('does not take other failures for throttling', () => {
    expect(isThrottling(named('ServerException'))).toBe(false);
    expect(isThrottling('ThrottlingException')).toBe(false);
  });
});

describe('throttleBackoffMs', () => {
  it('grows exponentially within its jitter band and stops at the cap', () => {
    expect(throttleBackoffMs(0, () => 0)).toBe(250);
    expect(throttleBackoffMs(0, () => 1)).toBe(500);
    expect(throttleBackoffMs(3, () => 1)).toBe(4000);
    expect(throttleBackoffMs(10, () => 1)).toBe(8000);
  });
});
