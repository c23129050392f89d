/**
 * The process-wide {@link Registrar} for the register and renew functions (the deregister
 * function does not load this module: it needs no ECS client).
 */
import { AwsEcsReader } from './ecs/api';
import { sharedReadBudget } from './ecs/budget';
import { invocationDeadlineMs } from './etcd/client';
import { FollowScheduler } from './follow/schedule';
import { SqsFollowQueue } from './follow/queue';
import { emitCounts, logger, sharedRegistry } from './lambda';
import type { Registry } from './etcd/registry';
import { Registrar } from './registrar';

let registrar: { registry: Registry; registrar: Registrar } | undefined;
let ecs: AwsEcsReader | undefined;
let followQueue: SqsFollowQueue | undefined;

/** The process's ECS reader: one per process, so every ECS read shares its retries and budget. */
export function sharedEcsReader(): AwsEcsReader {
  // One budget per process: renew, reconcile, follow-ups, drain checks and every other reader draw
  // from the same bucket.
  ecs ??= new AwsEcsReader(undefined, { budget: sharedReadBudget(sharedRegistry().config.ecsMaxReadsPerSecond), deadline: invocationDeadlineMs });
  return ecs;
}

/** The follow queue (`FOLLOW_QUEUE_URL`), or undefined when follow-ups are off. */
export function sharedFollowQueue(): SqsFollowQueue | undefined {
  const url = sharedRegistry().config.followQueueUrl;
  if (url && followQueue === undefined) followQueue = new SqsFollowQueue(url);
  return followQueue;
}

/** The registrar wired from the environment, created on first use and reused while warm. */
export function sharedRegistrar(): Registrar {
  const { config, registry } = sharedRegistry();
  if (registrar?.registry !== registry) {
    const reader = sharedEcsReader();
    const queue = sharedFollowQueue();
    const follow = queue && new FollowScheduler({ ecs: reader, queue, log: logger, onScheduled: (ok) => emitCounts(ok ? { FollowUpsStarted: 1 } : { FollowUpsNotStarted: 1 }) });
    registrar = { registry, registrar: new Registrar({ config, registry, etcd: registry.client, ecs: reader, log: logger, follow }) };
  }
  return registrar.registrar;
}
