/**
 * register: an EventBridge "ECS Task State Change" event for a started task (lastStatus and
 * desiredStatus RUNNING) → the task's endpoints published in etcd under one lease.
 */
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { parseTaskStateChange, TaskPhase, taskPhase } from '../lib/ecs/event';
import { emitCounts, invocationMiddleware, logger, metrics, middyOptions } from '../lib/lambda';
import { registerMetrics } from '../lib/metrics';
import type { RegisterOutcome } from '../lib/registrar';
import { sharedRegistrar } from '../lib/runtime';

/** Result when the event is an ECS task event, but not of a started task. */
export interface NotStarted {
  readonly action: 'ignored';
  readonly taskArn: string;
  readonly reason: string;
}

async function register(event: unknown, _context: Context): Promise<RegisterOutcome | NotStarted> {
  const { task } = parseTaskStateChange(event);
  if (taskPhase(task) !== TaskPhase.Started) {
    const reason = `not a started task (lastStatus ${task.lastStatus}, desiredStatus ${task.desiredStatus}): register only handles RUNNING/RUNNING`;
    logger.warn('event ignored', { reason });
    return { action: 'ignored', taskArn: task.taskArn, reason };
  }
  const outcome = await sharedRegistrar().register(task);
  emitCounts(registerMetrics(outcome));
  return outcome;
}

/** Lambda entry point. Throws on malformed events and on etcd/ECS failures, so the platform retries. */
export const handler = middy(register, middyOptions).use(logMetrics(metrics)).use(invocationMiddleware('register'));
