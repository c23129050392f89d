/**
 * renew: scheduled every minute (any payload) → leases of running, healthy tasks renewed; stopped,
 * gone and unhealthy tasks removed or withdrawn; tasks whose events were lost registered.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { invocationMiddleware, logger, middyOptions } from '../lib/lambda';
import type { RenewSummary } from '../lib/registrar';
import { sharedRegistrar } from '../lib/runtime';

async function renew(_event: unknown, _context: Context): Promise<RenewSummary> {
  const summary = await sharedRegistrar().renew();
  if (summary.failed > 0 || summary.ecsFailures.length > 0) logger.warn('renew tick had failures', { summary });
  return summary;
}

/**
 * Lambda entry point. Per-task failures are reported in the result, not thrown; the tick itself
 * throws only when etcd cannot be read at all.
 */
export const handler = middy(renew, middyOptions).use(invocationMiddleware('renew'));
