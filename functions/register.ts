/**
 * register: an EventBridge "ECS Task State Change" event for a started task (lastStatus and
 * desiredStatus RUNNING) → the task's endpoints published in etcd under one lease.
 */
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { emitCounts, invocationMiddleware, metrics, middyOptions } from '../lib/lambda';
import { registerMetrics } from '../lib/metrics';
import { isNotStarted, type NotStarted, type RegisterOutcome } from '../lib/registrar';
import { sharedRegistrar } from '../lib/runtime';

async function register(event: unknown, _context: Context): Promise<RegisterOutcome | NotStarted> {
  const outcome = await sharedRegistrar().registerEvent(event);
  if (!isNotStarted(outcome)) emitCounts(registerMetrics(outcome));
  return outcome;
}

/** Lambda entry point. Throws on malformed events and on etcd/ECS failures, so the platform retries. */
export const handler = middy(register, middyOptions).use(logMetrics(metrics)).use(invocationMiddleware('register'));
