/**
 * deregister: an EventBridge "ECS Task State Change" event for a stopping task (desiredStatus
 * STOPPED, or lastStatus STOPPED) → the task's keys deleted and its stop remembered.
 * With `DRY_RUN=true` it logs what it would delete and writes nothing.
 */
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { deregisterTask, planDeregister, type DeregisterOutcome } from '../lib/deregister';
import { parseTaskStateChange, TaskPhase, taskPhase } from '../lib/ecs/event';
import { emitCounts, invocationMiddleware, logger, metrics, middyOptions, sharedRegistry } from '../lib/lambda';
import { deregisterMetrics } from '../lib/metrics';

/** Result when the event is an ECS task event, but not of a stopping task. */
export interface NotStopping {
  readonly action: 'ignored';
  readonly taskArn: string;
  readonly reason: string;
}

async function deregister(event: unknown, _context: Context): Promise<DeregisterOutcome | NotStopping> {
  const { task } = parseTaskStateChange(event);
  if (taskPhase(task) !== TaskPhase.Stopping) {
    const reason = `not a stopping task (lastStatus ${task.lastStatus}, desiredStatus ${task.desiredStatus}): deregister handles desiredStatus STOPPED or lastStatus STOPPED`;
    logger.warn('event ignored', { reason });
    return { action: 'ignored', taskArn: task.taskArn, reason };
  }
  const { config, registry } = sharedRegistry();
  const outcome = config.dryRun ? await planDeregister(registry, task, logger) : await deregisterTask(registry, task);
  emitCounts(deregisterMetrics(outcome));
  return outcome;
}

/** Lambda entry point. Throws on malformed events and on etcd failures, so the platform retries. */
export const handler = middy(deregister, middyOptions).use(logMetrics(metrics)).use(invocationMiddleware('deregister'));
