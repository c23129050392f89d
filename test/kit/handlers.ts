/**
 * The Lambda handlers, loaded the way Lambda loads them: configuration comes from
 * `process.env` and is read once per process, so the environment is set before the import.
 */
import type { RegisterOutcome } from '../../lib/outcomes';
import type { FleetTask, LocalFleet } from './local-fleet';
import { lambdaContext } from './lambda';

/** The exported handlers. */
export interface Handlers {
  register: typeof import('../../functions/register')['handler'];
  deregister: typeof import('../../functions/deregister')['handler'];
  renew: typeof import('../../functions/renew')['handler'];
  follow: typeof import('../../functions/follow')['handler'];
}

/** Sets `env` on `process.env`, then imports the handlers. */
export async function loadHandlers(env: Record<string, string>): Promise<Handlers> {
  Object.assign(process.env, env);
  return {
    register: (await import('../../functions/register')).handler,
    deregister: (await import('../../functions/deregister')).handler,
    renew: (await import('../../functions/renew')).handler,
    follow: (await import('../../functions/follow')).handler,
  };
}

/**
 * Declares a task of `service` listening on 127.0.0.1:`port` (in `options.availabilityZone`, if
 * given) and sends its RUNNING event through the register handler. Throws unless the task was registered.
 */
export async function registerTask(
  handlers: Handlers,
  fleet: LocalFleet,
  service: string,
  port: number,
  options: { availabilityZone?: string } = {},
): Promise<{ task: FleetTask; keys: readonly string[] }> {
  const task = fleet.task(service, port, options);
  // A direct EventBridge event gets a RegisterOutcome (an SQS batch would get a batch response).
  const outcome = (await handlers.register(task.running(), lambdaContext('register'))) as RegisterOutcome;
  if (outcome.action !== 'registered')
    throw new Error(`task of ${service} on port ${port} was not registered: ${JSON.stringify(outcome)}`);
  return { task, keys: outcome.keys };
}
