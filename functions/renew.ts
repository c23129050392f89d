/**
 * renew: scheduled every minute (any payload) → leases of running, healthy tasks renewed; stopped,
 * gone and unhealthy tasks removed or withdrawn; tasks whose events were lost registered.
 * With `DRY_RUN=true` it logs every change it would make and writes nothing.
 */
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { getConfig } from '../lib/config';
import { emitCounts, invocationMiddleware, logger, metrics, middyOptions } from '../lib/handler/plumbing';
import { renewMetrics } from '../lib/metrics';
import { renewTasks } from '../lib/renew/run';
import type { RenewSummary } from '../lib/renew/summary';
import { loadEc2 } from '../lib/ecs/ec2-loader';
import { enableEc2Lookups, sharedRegistrar } from '../lib/handler/ecs-wiring';

async function renew(_event: unknown, context: Context): Promise<RenewSummary> {
  const summary = await renewTasks(sharedRegistrar(context), { dryRun: getConfig().dryRun });
  emitCounts(renewMetrics(summary));
  if (summary.dryRun) logger.info('dry run: nothing was written', { planned: summary.planned });
  if (summary.failed > 0 || summary.ecsFailures.length > 0) logger.warn('renew tick had failures', { summary });
  return summary;
}

// Publishes bridge and host tasks: their host address comes from EC2.
enableEc2Lookups(loadEc2);

/**
 * Lambda entry point. Per-task failures are reported in the result, not thrown; the tick itself
 * throws only when etcd cannot be read at all.
 */
export const handler = middy(renew, middyOptions).use(logMetrics(metrics)).use(invocationMiddleware('renew'));
