/**
 * The ECS read budget: a client-side token bucket every ECS and EC2 read of the process goes
 * through (`ECS_MAX_READS_PER_SECOND`). ECS throttles reads per account and region with a token
 * bucket shared by every tool in the account; pacing our own reads below it leaves the rest of the
 * account's budget to consoles, deploy pipelines and autoscalers, and keeps our calls from being
 * refused. Pure apart from the clock, which tests inject.
 */

/** The time source of a {@link ReadBudget}. */
export interface Clock {
  /** Milliseconds on a monotonic-enough scale (wall clock: deadlines are compared with it). */
  now(): number;
  /** Resolves after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Options of a {@link ReadBudget}. */
export interface ReadBudgetOptions {
  /** Sustained reads per second. */
  readonly readsPerSecond: number;
  /**
   * Reads that may start at once after a quiet period. One second's worth: a register invocation's
   * two or three reads go out at once, and no second ever sees more than twice the rate.
   * @default readsPerSecond (at least 1)
   */
  readonly burst?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * A token bucket as a reservation schedule (GCRA): each read reserves the next free slot, so
 * concurrent callers are served in order and a read refused for its deadline reserves nothing.
 *
 * @example
 * const budget = new ReadBudget({ readsPerSecond: 10 });
 * if (await budget.take({ deadline: Date.now() + 5000 })) await ecs.send(command);
 */
export class ReadBudget {
  /** Reads granted so far. */
  taken = 0;
  /** Milliseconds between two reads at the sustained rate. */
  readonly intervalMs: number;
  private readonly toleranceMs: number;
  private readonly clock: Clock;
  /** When the bucket would be full again with every reservation made so far (the "theoretical arrival time"). */
  private tat = -Infinity;

  constructor(options: ReadBudgetOptions) {
    if (!(options.readsPerSecond > 0))
      throw new RangeError(`readsPerSecond must be positive, got ${options.readsPerSecond}`);
    this.intervalMs = 1000 / options.readsPerSecond;
    const burst = Math.max(1, Math.floor(options.burst ?? options.readsPerSecond));
    this.toleranceMs = (burst - 1) * this.intervalMs;
    this.clock = options.clock ?? systemClock;
  }

  /** When a read asked for now could start (ms on the clock's scale), without reserving it. */
  nextStart(): number {
    const now = this.clock.now();
    return Math.max(now, this.tat - this.toleranceMs);
  }

  /**
   * Waits for a read slot and takes it. Resolves `false` at once, taking nothing, when the slot
   * would come after `deadline` (then the caller should not start the read at all).
   */
  async take(options: { readonly deadline?: number } = {}): Promise<boolean> {
    const now = this.clock.now();
    const tat = Math.max(this.tat, now);
    const start = tat - this.toleranceMs;
    if (options.deadline !== undefined && start > options.deadline) return false;
    this.tat = tat + this.intervalMs;
    this.taken++;
    if (start > now) await this.clock.sleep(start - now);
    return true;
  }

  /**
   * After a throttling answer: no read starts for `ms` (every caller of the budget waits, as they
   * share the account's bucket), and the burst is spent.
   */
  pause(ms: number): void {
    const resume = this.clock.now() + ms;
    this.tat = Math.max(this.tat, resume + this.toleranceMs);
  }
}

let shared: ReadBudget | undefined;

/**
 * The process's budget at `readsPerSecond`, created on first use and kept while warm, so every
 * reader of the process (renew, reconcile, the pending-task follow-up) draws from one bucket.
 */
export function sharedReadBudget(readsPerSecond: number): ReadBudget {
  if (!shared || shared.intervalMs !== 1000 / readsPerSecond) shared = new ReadBudget({ readsPerSecond });
  return shared;
}

/** Whether an AWS SDK error is a throttling answer (ECS: ThrottlingException; EC2: RequestLimitExceeded). */
export function isThrottling(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { $retryable?: { throttling?: boolean } };
  return (
    e.$retryable?.throttling === true ||
    ['ThrottlingException', 'RequestLimitExceeded', 'Throttling', 'TooManyRequestsException'].includes(e.name)
  );
}

/**
 * Backoff after the `attempt`-th throttling answer (0-based): exponential from `baseMs`, capped at
 * `maxMs`, jittered into its upper half by `random` (so concurrent callers do not retry in step).
 */
export function throttleBackoffMs(attempt: number, random: () => number, baseMs = 500, maxMs = 8000): number {
  return Math.round(Math.min(maxMs, baseMs * 2 ** attempt) * (0.5 + random() / 2));
}
