/**
 * The process-wide {@link Registrar}, ECS reader and follow queue for the register, renew and follow
 * functions, and for deregister's drain check (loaded lazily there, and without EC2 lookups).
 */
import type { Context } from 'aws-lambda';
import { getConfig } from '../config';
import { AwsEcsReader, type Ec2Loader } from '../ecs/api';
import { sharedReadBudget } from '../ecs/budget';
import { invocationDeadlineMs } from '../etcd/client';
import type { Registry } from '../etcd/registry';
import { FollowScheduler } from '../follow/schedule';
import { SqsFollowQueue } from '../follow/queue';
import { Registrar } from '../registrar';
import { emitCounts, logger, sharedRegistry } from './plumbing';

let registrar: { registry: Registry; registrar: Registrar } | undefined;
let ecs: AwsEcsReader | undefined;
let followQueue: SqsFollowQueue | undefined;
let ec2: Ec2Loader | undefined;

/**
 * Lets this process's ECS reader look up the host addresses of bridge and host tasks with EC2.
 * Called at load by the functions that publish tasks; deregister does not, so its package carries
 * no EC2 client (its drain check leaves a bridge or host task to the follow-up).
 */
export function enableEc2Lookups(loader: Ec2Loader): void {
  ec2 = loader;
}

/** The process's ECS reader: one per process, so every ECS read shares its retries and budget. */
export function sharedEcsReader(): AwsEcsReader {
  // One budget per process: renew, reconcile, follow-ups, drain checks and every other reader draw
  // from the same bucket.
  ecs ??= new AwsEcsReader(undefined, {
    budget: sharedReadBudget(getConfig().ecsMaxReadsPerSecond),
    deadline: invocationDeadlineMs,
    ec2,
  });
  return ecs;
}

/** The follow queue (`FOLLOW_QUEUE_URL`), or undefined when follow-ups are off. */
export function sharedFollowQueue(): SqsFollowQueue | undefined {
  const url = getConfig().followQueueUrl;
  if (url && followQueue === undefined) followQueue = new SqsFollowQueue(url);
  return followQueue;
}

/**
 * The registrar wired from the environment, created on first use and reused while warm.
 *
 * @param context the invocation's Lambda context, carrying the etcd credentials.
 */
export function sharedRegistrar(context: Context | undefined): Registrar {
  const { config, registry } = sharedRegistry(context);
  if (registrar?.registry !== registry) {
    const reader = sharedEcsReader();
    const queue = sharedFollowQueue();
    const follow =
      queue &&
      new FollowScheduler({
        ecs: reader,
        queue,
        log: logger,
        onScheduled: (ok) => emitCounts(ok ? { FollowUpsStarted: 1 } : { FollowUpsNotStarted: 1 }),
      });
    registrar = {
      registry,
      registrar: new Registrar({ config, registry, etcd: registry.client, ecs: reader, log: logger, follow }),
    };
  }
  return registrar.registrar;
}
