/**
 * follow: SQS batches of pending-task follow-up messages (one per health-gated task, delayed until
 * its next check) → the tasks ECS now says are HEALTHY published, UNHEALTHY ones withdrawn, the
 * rest sent back for their next check until their health check's bound. Nothing runs when no task
 * is pending.
 */
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { isSqsEvent } from '../lib/batch';
import { ConfigError, InvalidEventError } from '../lib/errors';
import { followMessages, type FollowResult } from '../lib/follow/follow';
import {
  emitCounts,
  invocationMiddleware,
  logger,
  metrics,
  middyOptions,
  sharedRegistry,
} from '../lib/handler/plumbing';
import { followMetrics } from '../lib/metrics';
import { loadEc2 } from '../lib/ecs/ec2-loader';
import { sharedEcsReader, sharedFollowQueue, enableEc2Lookups, sharedRegistrar } from '../lib/handler/ecs-wiring';

/** One log line per message that changed something or went wrong; `again` only at DEBUG (every few seconds per task). */
function report(result: FollowResult): void {
  const { error, ...fields } = result;
  if (result.outcome === 'rejected')
    logger.error('follow-up message rejected (acknowledged, not retried)', {
      ...fields,
      errorName: error?.name,
      error: error?.message,
    });
  else if (result.outcome === 'failed')
    logger.error('follow-up message failed (delivered again)', {
      ...fields,
      errorName: error?.name,
      error: error?.message,
    });
  else if (result.outcome === 'again') logger.debug('follow-up: still pending', fields);
  else logger.info(`follow-up: ${result.outcome}`, fields);
}

async function follow(event: unknown, context: Context): Promise<SQSBatchResponse> {
  if (!isSqsEvent(event))
    throw new InvalidEventError('expected an SQS event (Records from aws:sqs) of follow-up messages');
  const { config, registry } = sharedRegistry(context);
  const queue = sharedFollowQueue();
  if (!queue)
    throw new ConfigError(
      'FOLLOW_QUEUE_URL',
      'is required by the follow function (the queue it sends the next check to)',
    );
  const { results, batchItemFailures } = await followMessages(event.Records, {
    registry,
    ecs: sharedEcsReader(),
    registrar: sharedRegistrar(context),
    queue,
    log: logger,
    dryRun: config.dryRun,
  });
  for (const result of results) report(result);
  emitCounts(followMetrics(results));
  return { batchItemFailures };
}

// Publishes bridge and host tasks: their host address comes from EC2.
enableEc2Lookups(loadEc2);

/**
 * Lambda entry point (SQS event source with ReportBatchItemFailures): answers with the messages to
 * deliver again; malformed messages and unknown tasks are acknowledged and logged at ERROR.
 */
export const handler = middy(follow, middyOptions).use(logMetrics(metrics)).use(invocationMiddleware('follow'));
