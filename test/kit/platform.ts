/**
 * What the platform does with the handlers: EventBridge invokes them with events, many at once,
 * and when an invocation throws it delivers the same event again later, until it succeeds.
 */
import { Etcd3 } from 'etcd3';
import pLimit from 'p-limit';
import type { RenewSummary } from '../../lib/renew/summary';
import { LocalAws } from './local-aws';
import { consumeQueue, type ConsumeOptions, type QueueConsumer } from './local-sqs';
import { startLocalEtcd, type LocalEtcd } from './local-etcd';
import { loadHandlers } from './handlers';
import { lambdaContext } from './lambda';

type Json = Record<string, any>;

/** The event handlers, as exported by `functions/`. */
export type EventHandlers = Record<
  'register' | 'deregister',
  (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>
>;

/** One event for one handler. */
export interface Invocation {
  readonly handler: 'register' | 'deregister';
  readonly event: Json;
}

/** An invocation that threw, and what. */
export interface Failure {
  readonly invocation: Invocation;
  readonly error: unknown;
}

/** All the handlers. */
export interface Functions extends EventHandlers {
  renew(event: unknown, context: ReturnType<typeof lambdaContext>): Promise<RenewSummary>;
  follow(event: unknown, context: ReturnType<typeof lambdaContext>): Promise<unknown>;
}

/**
 * Starts a local ECS/EC2 endpoint with the sample task definitions, points the AWS SDK at it, sets
 * the given configuration in `process.env` and imports the handlers (they read it on first use, so
 * call this once per test file, before anything else imports them).
 */
export async function startFunctions(env: Record<string, string>): Promise<{ aws: LocalAws; functions: Functions }> {
  const aws = (await new LocalAws().start()).putSampleTaskDefinitions();
  const functions: Functions = await loadHandlers({ ...aws.sdkEnv(), ...env });
  return { aws, functions };
}

/** Handlers on the shared test etcd with the given configuration, and a plain client on that etcd. */
export interface OnSharedEtcd {
  readonly aws: LocalAws;
  readonly functions: Functions;
  readonly client: Etcd3;
  /** Closes the client and stops the local endpoint. */
  stop(): Promise<void>;
}

/** {@link startFunctions} plus a client on `env.ETCD_ENDPOINTS` (from `testEnv`: unique prefixes per file). */
export async function startOnSharedEtcd(env: Record<string, string>): Promise<OnSharedEtcd> {
  const { aws, functions } = await startFunctions(env);
  const client = new Etcd3({ hosts: env.ETCD_ENDPOINTS!.split(',') });
  return {
    aws,
    functions,
    client,
    async stop() {
      client.close();
      await aws.stop();
    },
  };
}

/** Handlers wired to an etcd of their own, a client on it and the local ECS endpoint. */
export interface Isolated {
  readonly etcd: LocalEtcd;
  readonly client: Etcd3;
  readonly aws: LocalAws;
  readonly functions: Functions;
  /** Stops etcd (removing its data) and the local endpoint. */
  stop(): Promise<void>;
}

/**
 * Starts an etcd of its own — needed wherever leases are counted (they are not namespaced) or etcd
 * is killed — and the handlers configured for it with the default prefixes, logging silenced.
 */
export async function startIsolated(env: Record<string, string> = {}): Promise<Isolated> {
  const etcd = await startLocalEtcd();
  const client = new Etcd3({ hosts: etcd.endpoint });
  const { aws, functions } = await startFunctions({
    ETCD_ENDPOINTS: etcd.endpoint,
    REGISTRY_PREFIX: 'services',
    STATE_PREFIX: 'registrar',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    ...env,
  });
  return {
    etcd,
    client,
    aws,
    functions,
    async stop() {
      client.close();
      await aws.stop();
      await etcd.stop();
    },
  };
}

/**
 * Invokes every event once, `concurrency` at a time, as Lambda would (a fresh context each).
 * `onSettled` sees each outcome as it comes.
 *
 * @returns the invocations that threw.
 */
export async function invokeAll(
  handlers: EventHandlers,
  invocations: readonly Invocation[],
  options: {
    concurrency: number;
    timeoutMs?: number;
    onSettled?: (invocation: Invocation, outcome: { result?: unknown; error?: unknown }) => void;
  },
): Promise<Failure[]> {
  const limit = pLimit(options.concurrency);
  const failures: Failure[] = [];
  await Promise.all(
    invocations.map((invocation) =>
      limit(async () => {
        try {
          const result = await handlers[invocation.handler](
            invocation.event,
            lambdaContext(invocation.handler, options.timeoutMs),
          );
          options.onSettled?.(invocation, { result });
        } catch (error) {
          failures.push({ invocation, error });
          options.onSettled?.(invocation, { error });
        }
      }),
    ),
  );
  return failures;
}

/** How the retries of failed invocations went. */
export interface RetryReport {
  /** Retry rounds made. */
  readonly rounds: number;
  /** Invocations retried (counting each event once). */
  readonly retried: number;
  /** Invocations still failing after the last round. */
  readonly stillFailing: Failure[];
}

/**
 * Delivers failed events again, as EventBridge retries a target: rounds with a growing pause,
 * until none fails or `maxRounds` is reached.
 */
export async function redeliver(
  handlers: EventHandlers,
  failures: readonly Failure[],
  options: { concurrency: number; maxRounds?: number; pauseMs?: number; timeoutMs?: number },
): Promise<RetryReport> {
  let pending = [...failures];
  let rounds = 0;
  const maxRounds = options.maxRounds ?? 10;
  while (pending.length > 0 && rounds < maxRounds) {
    await new Promise((r) => setTimeout(r, (options.pauseMs ?? 500) * 2 ** Math.min(rounds, 4)));
    rounds++;
    pending = await invokeAll(
      handlers,
      pending.map((f) => f.invocation),
      options,
    );
  }
  return { rounds, retried: failures.length, stillFailing: pending };
}

/** The handlers with the pending-task follow-up wired to a local queue. */
export interface FollowPlatform {
  readonly aws: LocalAws;
  readonly functions: Functions;
  /** `FOLLOW_QUEUE_URL` and its dead-letter queue. */
  readonly queueUrl: string;
  readonly deadLetterUrl: string;
  /**
   * Starts delivering due follow-up messages to the real follow handler, as the SQS event source
   * would (stop it before the test ends).
   */
  deliver(options?: ConsumeOptions): QueueConsumer;
}

/**
 * Like {@link startFunctions}, with a follow queue (redrive to a dead-letter queue after
 * `maxReceiveCount` receives, messages failed by the handler visible again after
 * `visibilityTimeoutMs`) whose URL is set as `FOLLOW_QUEUE_URL` before the handlers load.
 */
export async function startFollowPlatform(
  env: Record<string, string>,
  options: { readonly maxReceiveCount?: number; readonly visibilityTimeoutMs?: number } = {},
): Promise<FollowPlatform> {
  const aws = (await new LocalAws().start()).putSampleTaskDefinitions();
  const deadLetterUrl = aws.createQueue('follow-dlq');
  const queueUrl = aws.createQueue('follow', {
    deadLetter: deadLetterUrl,
    maxReceiveCount: options.maxReceiveCount ?? 3,
    visibilityTimeoutMs: options.visibilityTimeoutMs ?? 500,
  });
  const functions: Functions = await loadHandlers({ ...aws.sdkEnv(), FOLLOW_QUEUE_URL: queueUrl, ...env });
  return {
    aws,
    functions,
    queueUrl,
    deadLetterUrl,
    deliver: (consume) => consumeQueue(aws.queue(queueUrl), functions.follow, consume),
  };
}
