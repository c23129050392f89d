/**
 * Pure decisions of the pending-task follow-up: when to look at a health-gated task again, and what
 * to do with ECS's answer. No I/O here; `lib/follow/follow.ts` carries the decisions out.
 *
 * Timing, from Docker's health check as ECS runs it: the first probe runs one `interval` after the
 * container starts (a `startPeriod` does not delay it: a probe that passes during the start period
 * makes the container HEALTHY at once, only failures are forgiven), then one every `interval`. A
 * container is UNHEALTHY at the latest after `startPeriod + retries × (interval + timeout)`. ECS
 * learns the result from its agent a moment later, and emits no event for it, so the follow-up
 * asks ECS every few seconds from the first probe on, until that bound plus a margin.
 */
import { evaluateHealth, Health, RecordState, type TaskRecord } from '../decide';
import { TaskPhase, taskPhase, type TaskSnapshot } from '../ecs/task';
import { HEALTH_CHECK_DEFAULTS, type HealthCheckTiming } from '../ecs/task-definition';

/**
 * Longest wait between two checks of a pending task, in seconds. ECS's default interval is 30 s;
 * checking every 3 s (aligned, so the tasks of a deploy are asked about together) keeps a task's
 * HEALTHY → routable time under 5 s at a few ECS reads per task.
 */
export const FOLLOW_CHECK_SECONDS = 3;

/** Added to the health check's own bound: the agent's report to ECS, a slow probe, SQS's delivery. */
export const FOLLOW_MARGIN_SECONDS = 30;

/** SQS's largest per-message delay. */
export const MAX_DELAY_SECONDS = 900;

/** Checks of one task at most, whatever its timing says (a bound against a message that loops). */
export const MAX_FOLLOW_CHECKS = 1000;

/** How a pending task is followed: derived once, when it is recorded pending. */
export interface FollowTiming {
  /** Seconds from now to the first check. */
  readonly firstDelaySeconds: number;
  /** Seconds between later checks. */
  readonly checkEverySeconds: number;
  /** Epoch milliseconds after which the follow-up stops (renew stays in charge). */
  readonly giveUpAt: number;
}

/**
 * The follow-up timing of a task gated by containers with these health checks.
 *
 * @param startedAtMs when the task started (epoch ms); the time it was recorded when unknown.
 * @example
 * const timing = followTiming([definition.containers[0].healthCheck], Date.parse(task.startedAt), Date.now());
 */
export function followTiming(
  checks: readonly (HealthCheckTiming | undefined)[],
  startedAtMs: number,
  nowMs: number,
): FollowTiming {
  const timings = checks.length > 0 ? checks.map((c) => c ?? HEALTH_CHECK_DEFAULTS) : [HEALTH_CHECK_DEFAULTS];
  const interval = Math.min(...timings.map((t) => t.intervalSeconds));
  const bound = Math.max(
    ...timings.map((t) => t.startPeriodSeconds + t.retries * (t.intervalSeconds + t.timeoutSeconds)),
  );
  // A start time in the future (clock skew) or far in the past (a late event) is taken as it is:
  // the first check is then due at once, and the bound may already have passed.
  const firstDue = Math.min(startedAtMs, nowMs) + interval * 1000;
  return {
    firstDelaySeconds: clampDelay(Math.ceil((firstDue - nowMs) / 1000)),
    checkEverySeconds: Math.max(1, Math.min(interval, FOLLOW_CHECK_SECONDS)),
    giveUpAt: Math.min(startedAtMs, nowMs) + (bound + FOLLOW_MARGIN_SECONDS) * 1000,
  };
}

const clampDelay = (seconds: number) => Math.max(0, Math.min(MAX_DELAY_SECONDS, seconds));

/**
 * Seconds until the next check: up to the next multiple of `checkEverySeconds` on the clock, so
 * the checks of tasks recorded at different moments fall due together and share DescribeTasks
 * calls (never less than 1 s).
 */
export function nextDelaySeconds(nowMs: number, checkEverySeconds: number): number {
  const second = Math.floor(nowMs / 1000);
  return clampDelay(checkEverySeconds - (second % checkEverySeconds)) || checkEverySeconds;
}

/** What the follow-up does with one pending task. */
export type FollowDecision =
  /** Write it from ECS's answer: HEALTHY → registered, UNHEALTHY → withdrawn. */
  | { readonly action: 'write'; readonly health: typeof Health.Ready | typeof Health.Unhealthy }
  /** Ask again later. */
  | { readonly action: 'again'; readonly delaySeconds: number }
  /** Nothing left to follow: published or withdrawn already, stopped or stopping. */
  | { readonly action: 'done'; readonly reason: string }
  /** Past its bound, still not HEALTHY: renew stays in charge. */
  | { readonly action: 'give-up'; readonly reason: string }
  /** etcd knows nothing of the task: the message names a task that was never recorded (or expired). */
  | { readonly action: 'unknown'; readonly reason: string };

/** What the follow-up knows when it decides about one task. */
export interface FollowInput {
  /** From the message. */
  readonly checkEverySeconds: number;
  readonly giveUpAt: number;
  readonly attempt: number;
  /** The task's record in etcd, if any. */
  readonly record?: Pick<TaskRecord, 'state' | 'gatedContainers'>;
  /** Whether etcd remembers the task as stopped. */
  readonly tombstoned: boolean;
  /**
   * ECS's answer: a task, `'missing'` (ECS does not know it, which its eventual consistency allows
   * for a running task), or undefined when ECS was not asked (etcd already said enough).
   */
  readonly described?: TaskSnapshot | 'missing';
  readonly nowMs: number;
}

/**
 * Whether ECS must be asked about a task at all: only a task still pending in etcd is worth a read.
 * Returns the decision that needs no ECS answer, or undefined.
 */
export function decideWithoutEcs(input: Omit<FollowInput, 'described'>): FollowDecision | undefined {
  if (input.tombstoned) return { action: 'done', reason: 'stopped (tombstone)' };
  if (!input.record)
    return {
      action: 'unknown',
      reason: 'etcd holds no record of the task (never recorded pending, or its lease expired)',
    };
  if (input.record.state !== RecordState.Pending)
    return { action: 'done', reason: `record is ${input.record.state} already` };
  return undefined;
}

/**
 * Decides what to do with a pending task given ECS's answer.
 *
 * @example
 * const decision = decideFollowUp({ ...message, record, tombstoned: false, described, nowMs: Date.now() });
 */
export function decideFollowUp(input: FollowInput): FollowDecision {
  const early = decideWithoutEcs(input);
  if (early) return early;
  const { described } = input;
  if (described && described !== 'missing') {
    const phase = taskPhase(described);
    if (phase === TaskPhase.Stopping)
      return {
        action: 'done',
        reason: `ECS says ${described.lastStatus}/${described.desiredStatus}: nothing published`,
      };
    if (phase === TaskPhase.Started) {
      const health = evaluateHealth(described, input.record!.gatedContainers);
      if (health !== Health.Pending) return { action: 'write', health };
    }
  }
  const delaySeconds = nextDelaySeconds(input.nowMs, input.checkEverySeconds);
  if (input.attempt >= MAX_FOLLOW_CHECKS) return { action: 'give-up', reason: `checked ${input.attempt} times` };
  if (input.nowMs + delaySeconds * 1000 > input.giveUpAt)
    return {
      action: 'give-up',
      reason: `not HEALTHY within its health check's bound (${new Date(input.giveUpAt).toISOString()}): renew stays in charge`,
    };
  return { action: 'again', delaySeconds };
}
