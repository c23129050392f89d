/**
 * register: an EventBridge "ECS Task State Change" event for a started task (lastStatus and
 * desiredStatus RUNNING) → the task's endpoints published in etcd under one lease. Also takes the
 * same events in batches from an SQS queue (EventBridge → SQS → register, `ingest: sqs` in
 * serverless.yml) and then answers with the messages that failed.
 */
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { isSqsEvent, registerMessages, type MessageResult } from '../lib/batch';
import { RegistrarError } from '../lib/errors';
import { emitCounts, invocationMiddleware, logger, metrics, middyOptions } from '../lib/handler/plumbing';
import { failureMetrics, registerMetrics } from '../lib/metrics';
import { isNotStarted, type NotStarted, type RegisterOutcome } from '../lib/outcomes';
import { loadEc2 } from '../lib/ecs/ec2-loader';
import { enableEc2Lookups, sharedRegistrar } from '../lib/handler/ecs-wiring';

type Outcome = RegisterOutcome | NotStarted;

function counted(outcome: Outcome): Outcome {
  if (!isNotStarted(outcome)) emitCounts(registerMetrics(outcome));
  return outcome;
}

/** One log line and the metrics of each message of an SQS batch. */
function reportMessage(result: MessageResult<Outcome>): void {
  const { messageId, eventId, taskArn } = result;
  if ('outcome' in result) {
    counted(result.outcome);
    logger.info('message done', { messageId, eventId, taskArn, result: result.outcome });
    return;
  }
  const err = result.error as Error | undefined;
  emitCounts(failureMetrics(err));
  logger.error('message failed', {
    messageId,
    eventId,
    taskArn,
    errorName: err?.name,
    retryable: err instanceof RegistrarError ? err.retryable : true,
    error: err,
  });
}

async function register(event: unknown, context: Context): Promise<Outcome | SQSBatchResponse> {
  const registrar = sharedRegistrar(context);
  if (isSqsEvent(event))
    return registerMessages(event, (e) => registrar.registerEvent(e), { context, report: reportMessage });
  return counted(await registrar.registerEvent(event));
}

// Publishes bridge and host tasks: their host address comes from EC2.
enableEc2Lookups(loadEc2);

/**
 * Lambda entry point. For a direct event, throws on a malformed event and on etcd/ECS failures, so
 * the platform retries. For an SQS batch, reports the failed messages (`batchItemFailures`) and
 * throws only when every message failed.
 */
export const handler = middy(register, middyOptions).use(logMetrics(metrics)).use(invocationMiddleware('register'));
