/**
 * The process-wide {@link Registrar} for the register and renew functions (the deregister
 * function does not load this module: it needs no ECS client).
 */
import { AwsEcsReader } from './ecs/api';
import { logger, sharedRegistry } from './lambda';
import { Registrar } from './registrar';

let registrar: Registrar | undefined;

/** The registrar wired from the environment, created on first use and reused while warm. */
export function sharedRegistrar(): Registrar {
  if (!registrar) {
    const { config, registry } = sharedRegistry();
    registrar = new Registrar({ config, registry, etcd: registry.client, ecs: new AwsEcsReader(), log: logger });
  }
  return registrar;
}
