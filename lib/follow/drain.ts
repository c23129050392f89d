/**
 * The drain check: before a stopping task's keys are deleted, the pending tasks of the same
 * services are asked about once (one round: one DescribeTasks of up to 100 tasks per cluster) and those ECS says
 * HEALTHY are published first. In a rolling deploy ECS stops the old tasks right after the new ones
 * turn HEALTHY, and no event says so; without this check the service would be empty until the next
 * follow-up check. Best effort and bounded: it never fails nor holds up the stop by more than one
 * round of ECS reads.
 */
import { evaluateHealth, Health, RecordState, WriteSource } from '../decide';
import type { EcsReader } from '../ecs/reader';
import { DESCRIBE_TASKS_BATCH } from '../ecs/limits';
import { TaskPhase, taskPhase, type TaskSnapshot } from '../ecs/task';
import { errorMessage } from '../errors';
import type { PendingEntry, Registry, TaskRef } from '../etcd/registry';
import { serviceOfEndpointKey } from '../keys';
import type { Log } from '../log';
import type { Registrar } from '../registrar';

/** What the drain check did. */
export interface DrainOutcome {
  /** Pending tasks of the stopping task's services that ECS was asked about (at most 100 per cluster). */
  readonly checked: number;
  /** Of those, published because ECS says HEALTHY. */
  readonly published: readonly string[];
  /** Why the check was cut short or partly failed (logged; the stop goes ahead). */
  readonly errors: readonly string[];
}

/** Dependencies of {@link drainPending}; the ECS side is loaded only when a pending task exists. */
export interface DrainDeps {
  readonly registry: Pick<Registry, 'readTask' | 'pendingTasks'>;
  readonly registryPrefix: string;
  /** Loads the ECS reader and registrar (lazily: most stops find no pending task). */
  readonly load: () => Promise<{
    readonly ecs: Pick<EcsReader, 'describeTasks'>;
    readonly registrar: Pick<Registrar, 'register'>;
  }>;
  readonly log: Log;
  /** Decide, write nothing (`DRY_RUN`). @default false */
  readonly dryRun?: boolean;
}

/**
 * Longest a stop waits for the drain check: one round of DescribeTasks (with the SDK's retries of
 * a throttled call) and the writes it leads to. Past that the stop goes ahead.
 */
export const DRAIN_WAIT_MS = 3000;

const NOTHING: DrainOutcome = { checked: 0, published: [], errors: [] };

/**
 * Publishes the pending tasks of a stopping task's services that ECS says are HEALTHY. Never throws.
 *
 * @example
 * const drained = await drainPending(deps, task);
 * await deregisterTask(registry, task);
 */
export async function drainPending(deps: DrainDeps, stopping: TaskRef): Promise<DrainOutcome> {
  const errors: string[] = [];
  let pending: PendingEntry[];
  try {
    const { record } = await deps.registry.readTask(stopping);
    if (!record) return NOTHING;
    // Records written before `services` existed: the services are in their endpoint keys.
    const services =
      record.record.services ??
      record.record.keys
        .map((k) => serviceOfEndpointKey(deps.registryPrefix, k))
        .filter((s): s is string => s !== undefined);
    if (services.length === 0) return NOTHING;
    pending = (await deps.registry.pendingTasks(services)).filter((p) => p.taskArn !== stopping.taskArn);
  } catch (err) {
    deps.log.warn('drain check: could not read the pending tasks; the stop goes ahead', {
      taskArn: stopping.taskArn,
      error: errorMessage(err),
    });
    return { ...NOTHING, errors: [errorMessage(err)] };
  }
  if (pending.length === 0) return NOTHING;

  let loaded: Awaited<ReturnType<DrainDeps['load']>>;
  try {
    loaded = await deps.load();
  } catch (err) {
    return { checked: 0, published: [], errors: [`loading the ECS client failed: ${errorMessage(err)}`] };
  }
  const gated = new Map(pending.map((p) => [p.taskArn, p.gatedContainers]));
  // One round, one DescribeTasks per cluster: at most 100 pending tasks of each are asked about. A
  // deploy of hundreds stops hundreds of tasks, and each stop needs only some HEALTHY replacement
  // published; the follow-up publishes the rest within a check.
  const byCluster = new Map<string, string[]>();
  for (const p of pending) byCluster.set(p.clusterArn, [...(byCluster.get(p.clusterArn) ?? []), p.taskArn]);
  const calls = [...byCluster].map(([cluster, arns]) => ({ cluster, arns: arns.slice(0, DESCRIBE_TASKS_BATCH) }));
  const healthy: TaskSnapshot[] = [];
  await Promise.all(
    calls.map(async ({ cluster, arns }) => {
      try {
        const { tasks } = await loaded.ecs.describeTasks(cluster, arns);
        for (const t of tasks)
          if (taskPhase(t) === TaskPhase.Started && evaluateHealth(t, gated.get(t.taskArn) ?? []) === Health.Ready)
            healthy.push(t);
      } catch (err) {
        errors.push(`DescribeTasks in ${cluster}: ${errorMessage(err)}`);
      }
    }),
  );
  const published: string[] = [];
  if (deps.dryRun) {
    if (healthy.length > 0)
      deps.log.info('dry run: drain check would publish HEALTHY pending tasks', {
        taskArns: healthy.map((t) => t.taskArn),
      });
    return { checked: calls.reduce((n, c) => n + c.arns.length, 0), published: [], errors };
  }
  await Promise.all(
    healthy.map(async (task) => {
      try {
        // Stops come in bursts during a deploy: skip a task another drain check (or the follow-up)
        // published meanwhile; the write itself applies only while the record is still pending.
        const known = await deps.registry.readTask(task);
        if (known.record?.record.state !== RecordState.Pending) return;
        const outcome = await loaded.registrar.register(task, { source: WriteSource.PendingCheck, known });
        if (outcome.action === 'registered') published.push(task.taskArn);
      } catch (err) {
        errors.push(`publishing ${task.taskArn}: ${errorMessage(err)}`);
      }
    }),
  );
  if (errors.length > 0)
    deps.log.warn('drain check partly failed; the stop goes ahead (the follow-up and renew catch up)', {
      taskArn: stopping.taskArn,
      errors,
    });
  return { checked: calls.reduce((n, c) => n + c.arns.length, 0), published, errors };
}

/**
 * Runs the drain check, then `stop` (the stopping task's delete) once the check is done or
 * {@link DRAIN_WAIT_MS} passed, whichever comes first; waits for the check before returning, so
 * nothing is left in flight when Lambda freezes the process.
 *
 * @example
 * const { outcome, drained } = await drainThenStop(deps, task, () => deregisterTask(registry, task));
 */
export async function drainThenStop<T>(
  deps: DrainDeps,
  stopping: TaskRef,
  stop: () => Promise<T>,
): Promise<{ outcome: T; drained: DrainOutcome }> {
  const drain = drainPending(deps, stopping);
  let timer: NodeJS.Timeout | undefined;
  const waited = await Promise.race([
    drain,
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), DRAIN_WAIT_MS))),
  ]);
  clearTimeout(timer);
  if (!waited)
    deps.log.warn('drain check still running: deleting the stopping task without waiting', {
      taskArn: stopping.taskArn,
      waitedMs: DRAIN_WAIT_MS,
    });
  const outcome = await stop();
  return { outcome, drained: waited ?? (await drain) };
}
