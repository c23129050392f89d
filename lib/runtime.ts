/**
 * The process-wide {@link Registrar} for the register and renew functions (the deregister
 * function does not load this module: it needs no ECS client).
 */
import { AwsEcsReader } from './ecs/api';
import { sharedReadBudget } from './ecs/budget';
import { invocationDeadlineMs } from './etcd/client';
import { logger, sharedRegistry } from './lambda';
import type { Registry } from './etcd/registry';
import { Registrar } from './registrar';

let registrar: { registry: Registry; registrar: Registrar } | undefined;
let ecs: AwsEcsReader | undefined;

/** The registrar wired from the environment, created on first use and reused while warm. */
export function sharedRegistrar(): Registrar {
  const { config, registry } = sharedRegistry();
  if (registrar?.registry !== registry) {
    // One budget per process: renew, reconcile and every other reader draw from the same bucket.
    ecs ??= new AwsEcsReader(undefined, { budget: sharedReadBudget(config.ecsMaxReadsPerSecond), deadline: invocationDeadlineMs });
    registrar = { registry, registrar: new Registrar({ config, registry, etcd: registry.client, ecs, log: logger }) };
  }
  return registrar.registrar;
}
