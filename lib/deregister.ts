/**
 * Deregistering a stopping task. Kept apart from the rest of the registrar so the deregister
 * function's bundle carries no ECS client: a stop needs nothing but etcd.
 */
import type { Registry, TaskRef } from './etcd/registry';

/** What deregistering one task did. */
export interface DeregisterOutcome {
  /** `removed`: keys and record deleted; `tombstoned`: nothing was registered, the stop is remembered; `unchanged`: already stopped. */
  readonly action: 'removed' | 'tombstoned' | 'unchanged';
  readonly taskArn: string;
  /** Endpoint keys that were removed. */
  readonly keys: readonly string[];
}

/** The four fields that identify a task in the registry. */
export function refOf(task: TaskRef): TaskRef {
  return { taskArn: task.taskArn, taskId: task.taskId, clusterArn: task.clusterArn, clusterName: task.clusterName };
}

/**
 * Removes a stopping task: tombstone, record and its own endpoint keys in one transaction, then
 * its lease is revoked. Idempotent; never touches another task's key at a reused address.
 *
 * @example
 * await deregisterTask(registry, { ...task, stoppedAt: new Date().toISOString() });
 */
export async function deregisterTask(
  registry: Registry,
  task: TaskRef & { readonly version: number; readonly stoppedAt?: string },
): Promise<DeregisterOutcome> {
  const result = await registry.stopTask(refOf(task), task.version, task.stoppedAt ?? new Date().toISOString());
  return { action: result.status, taskArn: task.taskArn, keys: result.status === 'removed' ? result.keys : [] };
}
