/**
 * Starts the follow-up of a task just recorded pending: works out its health check timing from the
 * task definition and sends the first message, delayed until the first probe can have passed.
 */
import type { EcsReader } from '../ecs/reader';
import type { TaskSnapshot } from '../ecs/task';
import { errorMessage } from '../errors';
import type { Log } from '../log';
import type { PendingFollower } from './follower';
import { FOLLOW_MESSAGE_TYPE, type FollowMessage } from './message';
import { followTiming } from './plan';
import type { FollowQueue } from './queue';

/** Dependencies of a {@link FollowScheduler}. */
export interface FollowSchedulerDeps {
  /** For the task definition's health checks (cached by the reader). */
  readonly ecs: Pick<EcsReader, 'taskDefinition'>;
  readonly queue: FollowQueue;
  readonly log: Log;
  /** Told of every follow-up started (true) or that could not be (false), for metrics. */
  readonly onScheduled?: (ok: boolean) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Sends the first follow-up message of each task recorded pending. */
export class FollowScheduler implements PendingFollower {
  constructor(private readonly deps: FollowSchedulerDeps) {}

  async follow(task: TaskSnapshot, gatedContainers: readonly string[]): Promise<void> {
    const { ecs, queue, log } = this.deps;
    try {
      const definition = await ecs.taskDefinition(task.taskDefinitionArn);
      const checks = definition.containers.filter((c) => gatedContainers.includes(c.name)).map((c) => c.healthCheck);
      const now = (this.deps.now ?? Date.now)();
      const started = task.startedAt ? Date.parse(task.startedAt) : now;
      const timing = followTiming(checks, Number.isFinite(started) ? started : now, now);
      const body: FollowMessage = {
        type: FOLLOW_MESSAGE_TYPE,
        taskArn: task.taskArn,
        clusterArn: task.clusterArn,
        taskDefinitionArn: task.taskDefinitionArn,
        checkEverySeconds: timing.checkEverySeconds,
        giveUpAt: timing.giveUpAt,
        attempt: 1,
      };
      const { failed } = await queue.send([{ body, delaySeconds: timing.firstDelaySeconds }]);
      if (failed.length > 0) throw new Error(failed[0]!.error);
      this.deps.onScheduled?.(true);
    } catch (err) {
      this.deps.onScheduled?.(false);
      log.error('pending task not followed up: renew publishes it once HEALTHY (within a tick)', {
        taskArn: task.taskArn,
        error: errorMessage(err),
      });
    }
  }
}
