/**
 * What every handler shares: the logger, the etcd client and registry built once per process,
 * and the middy options and middleware that give each invocation a deadline and one log line per
 * outcome. Nothing here decides anything.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { getConfig, withRegistryPrefix, type Config } from '../config';
import { DeadlineError, RegistrarError } from '../errors';
import { diagnoseTls, getEtcdClient, setInvocationDeadline } from '../etcd/client';
import type { EtcdCredentials } from '../etcd/credentials';
import { adoptionWarning, claimNamespace } from '../etcd/ownership';
import { etcdCall } from '../etcd/operations';
import { Registry } from '../etcd/registry';
import { ETCD_LATENCY_METRIC, failureMetrics, type MetricCounts } from '../metrics';
import { resolveEtcdCredentials } from '../etcd/credential-sources';

/** Structured JSON logger; `LOG_LEVEL` and `POWERTOOLS_*` variables apply. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'ecs-etcd-registrar' });

/**
 * Powertools Metrics' own diagnostics, through the logger (so `POWERTOOLS_LOG_LEVEL` applies).
 * "No application metrics to publish" is normal here — an invocation that changed nothing has
 * nothing to count — so it goes out at DEBUG rather than as a warning on every such invocation.
 */
const metricsDiagnostics = {
  debug: (...args: unknown[]) => logger.debug(String(args[0])),
  info: (...args: unknown[]) => logger.info(String(args[0])),
  warn: (...args: unknown[]) =>
    String(args[0]).startsWith('No application metrics to publish')
      ? logger.debug(String(args[0]))
      : logger.warn(String(args[0])),
  error: (...args: unknown[]) => logger.error(String(args[0])),
};

/**
 * CloudWatch metrics in Embedded Metric Format, flushed once per invocation by the handlers'
 * `logMetrics` middleware. Namespace from `POWERTOOLS_METRICS_NAMESPACE`; the `service` dimension
 * is `POWERTOOLS_SERVICE_NAME` (serverless.yml puts the stage in it). `POWERTOOLS_METRICS_DISABLED=true`
 * (tests, bench, demo) writes none.
 */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'EcsEtcdRegistrar',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'ecs-etcd-registrar',
  logger: metricsDiagnostics,
});

/** Adds counts to this invocation's metrics (zero counts are left out). */
export function emitCounts(counts: MetricCounts): void {
  for (const [name, value] of Object.entries(counts)) if (value) metrics.addMetric(name, MetricUnit.Count, value);
}

/** Time kept back from the Lambda deadline so an etcd failure is reported, not cut off. */
export const DEADLINE_MARGIN_MS = 1000;

/** middy's plugin options: stop a handler that overruns shortly before Lambda would. */
export const middyOptions = {
  timeoutEarlyInMillis: DEADLINE_MARGIN_MS / 2,
  timeoutEarlyResponse: () => {
    throw new DeadlineError('the invocation reached its deadline before the work finished; it will be retried');
  },
};

let registry: Registry | undefined;

/** Where {@link invocationMiddleware} leaves the invocation's etcd credentials on the Lambda context. */
const CREDENTIALS = 'etcdCredentials';

/**
 * The etcd credentials {@link invocationMiddleware} resolved for this invocation, from its Lambda
 * context (as middy's own middlewares hand what they fetched to the handler).
 */
export function etcdCredentialsOf(context: Context | undefined): EtcdCredentials | undefined {
  return (context as { [CREDENTIALS]?: EtcdCredentials } | undefined)?.[CREDENTIALS];
}

/** The process's registry and the configuration read from the environment (before the claim). */
function processRegistry(context: Context | undefined): { config: Config; registry: Registry } {
  const config = getConfig();
  const credentials = etcdCredentialsOf(context);
  const client = getEtcdClient(config, credentials);
  if (registry?.client !== client) {
    registry = new Registry(client, config, {
      observe: (_operation, ms) => metrics.addMetric(ETCD_LATENCY_METRIC, MetricUnit.Milliseconds, ms),
      diagnose: () => diagnoseTls(config, credentials),
    });
  }
  return { config, registry };
}

/**
 * Per registry: its claim, and the configuration it settled (the service directory it runs with).
 * Process-wide like the registry itself (one claim per etcd client, reused while warm); keyed by
 * the registry, so a new client (rotated credentials) claims again and nothing outlives it.
 */
const claims = new WeakMap<Registry, Promise<Config>>();
const claimed = new WeakMap<Registry, Config>();

/**
 * The process-wide config and registry, created on first use and reused while warm (a new one
 * only when the etcd credentials changed, e.g. a rotated secret). The config is the one the
 * namespace's claim settled (with the adopted service directory, if any), so it is available only
 * once {@link invocationMiddleware} has claimed: nothing can run with the directory before it.
 *
 * @param context the invocation's Lambda context, carrying the credentials (see {@link etcdCredentialsOf}).
 * @throws {Error} when called before the claim (a handler without {@link invocationMiddleware}).
 */
export function sharedRegistry(context: Context | undefined): { config: Config; registry: Registry } {
  const { registry } = processRegistry(context);
  const config = claimed.get(registry);
  if (!config) throw new Error('the state namespace is not claimed yet: invocationMiddleware claims it first');
  return { config, registry };
}

/**
 * Claims this deployment's state namespace once per registry (see lib/etcd/ownership.ts): the
 * first invocation of a process checks the owner record (and, on a fresh or upgraded namespace,
 * writes it and moves the previous layout in), and settles the configuration the process runs
 * with. A refusal or an etcd failure is thrown and tried again by the next invocation.
 */
export function claimedNamespace({ config, registry }: { config: Config; registry: Registry }): Promise<Config> {
  let claim = claims.get(registry);
  if (!claim) {
    claim = claimNamespace({ client: registry.client, config, call: etcdCall }).then((result) => {
      const { claimed: fresh, migration, registryPrefix, adopted } = result;
      if (fresh || (migration && migration.moved + migration.superseded > 0))
        logger.info('state namespace claimed', { statePrefix: config.statePrefix, claimed: fresh, migration });
      if (adopted) logger.warn(adoptionWarning(config, registryPrefix), { registryPrefix, adopted });
      const settled = withRegistryPrefix(config, registryPrefix);
      claimed.set(registry, settled);
      if (migration && migration.skipped > 0) {
        // A key the move could not take this time (etcd failed, or it changed under the move): renew
        // skips state of the previous layout, so claim again at the next invocation, not at the next
        // cold start, which for a warm renew can be hours away.
        logger.warn('state of the previous layout partly moved: the next invocation moves the rest', { migration });
        claims.delete(registry);
      }
      return settled;
    });
    claim.catch(() => claims.delete(registry));
    claims.set(registry, claim);
  }
  return claim;
}

/**
 * Per-invocation plumbing: Powertools' `injectLambdaContext` adds the Lambda context to every log
 * line (and removes this invocation's keys afterwards); then this caps every etcd call at the
 * function's remaining time less a margin, adds the event id / task ARN to every log line, logs the
 * outcome, and lets errors propagate so the platform retries or dead-letters the event.
 */
export function invocationMiddleware(functionName: string): MiddlewareObj<unknown, unknown, Error, Context>[] {
  // middy runs `after`/`onError` in reverse order: the outcome is logged before the keys are reset.
  return [injectLambdaContext(logger, { resetKeys: true }), invocation(functionName)];
}

function invocation(functionName: string): MiddlewareObj<unknown, unknown, Error, Context> {
  return {
    before: async (request) => {
      const remaining = request.context?.getRemainingTimeInMillis?.();
      setInvocationDeadline(
        typeof remaining === 'number' ? Date.now() + Math.max(100, remaining - DEADLINE_MARGIN_MS) : undefined,
      );
      const event = request.event as { id?: unknown; detail?: { taskArn?: unknown } } | undefined;
      // Not validated yet: keep what a hostile event can repeat on every log line short.
      const short = (value: unknown) =>
        typeof value === 'string' ? (value.length > 160 ? `${value.slice(0, 160)}…` : value) : undefined;
      logger.appendKeys({ function: functionName, eventId: short(event?.id), taskArn: short(event?.detail?.taskArn) });
      const credentials = await resolveEtcdCredentials(getConfig().etcdCredentials);
      // Not enumerable: the context may be logged or serialised, the credentials never.
      if (request.context)
        Object.defineProperty(request.context, CREDENTIALS, {
          value: credentials,
          enumerable: false,
          configurable: true,
          writable: true,
        });
      await claimedNamespace(processRegistry(request.context));
    },
    after: (request) => {
      logger.info(`${functionName} done`, { result: request.response });
      setInvocationDeadline(undefined);
    },
    onError: (request) => {
      const err = request.error;
      emitCounts(failureMetrics(err));
      logger.error(`${functionName} failed`, {
        errorName: err?.name,
        retryable: err instanceof RegistrarError ? err.retryable : true,
        error: err,
      });
      setInvocationDeadline(undefined);
    },
  };
}
