/**
 * deregister: an EventBridge "ECS Task State Change" event for a stopping task (desiredStatus
 * STOPPED, or lastStatus STOPPED) → the task's keys deleted and its stop remembered. First, the
 * pending tasks of the same services ECS says are HEALTHY are published (the drain check), so a
 * rolling deploy never empties a service. With `DRY_RUN=true` it logs what it would delete and
 * writes nothing.
 */
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { deregisterTask, planDeregister } from '../lib/deregister';
import type { DeregisterOutcome } from '../lib/outcomes';
import { drainThenStop, type DrainOutcome } from '../lib/follow/drain';
import { assertServed } from '../lib/deployment';
import { parseTaskStateChange } from '../lib/ecs/event';
import { TaskPhase, taskPhase } from '../lib/ecs/task';
import {
  emitCounts,
  invocationMiddleware,
  logger,
  metrics,
  middyOptions,
  sharedRegistry,
} from '../lib/handler/plumbing';
import { deregisterMetrics, drainMetrics } from '../lib/metrics';

/** Result when the event is an ECS task event, but not of a stopping task. */
export interface NotStopping {
  readonly action: 'ignored';
  readonly taskArn: string;
  readonly reason: string;
}

async function deregister(
  event: unknown,
  context: Context,
): Promise<(DeregisterOutcome & { drained?: DrainOutcome }) | NotStopping> {
  const { task } = parseTaskStateChange(event);
  const { config, registry } = sharedRegistry(context);
  assertServed(config.deployment, task.clusterArn);
  if (taskPhase(task) !== TaskPhase.Stopping) {
    const reason =
      `not a stopping task (lastStatus ${task.lastStatus}, desiredStatus ${task.desiredStatus}): ` +
      'deregister handles desiredStatus STOPPED or lastStatus STOPPED';
    logger.warn('event ignored', { reason });
    return { action: 'ignored', taskArn: task.taskArn, reason };
  }
  if (config.dryRun) return planDeregister(registry, task, logger);
  const { outcome, drained } = await drainThenStop(
    {
      registry,
      registryPrefix: config.registryPrefix,
      log: logger,
      dryRun: config.dryRun,
      // The ECS client is loaded only when the stopping task's services have pending tasks.
      load: async () => {
        const runtime = await import('../lib/handler/ecs-wiring');
        return { ecs: runtime.sharedEcsReader(), registrar: runtime.sharedRegistrar(context) };
      },
    },
    task,
    () => deregisterTask(registry, task),
  );
  emitCounts(deregisterMetrics(outcome));
  emitCounts(drainMetrics(drained));
  return drained.checked > 0 ? { ...outcome, drained } : outcome;
}

/** Lambda entry point. Throws on malformed events and on etcd failures, so the platform retries. */
export const handler = middy(deregister, middyOptions).use(logMetrics(metrics)).use(invocationMiddleware('deregister'));
