/**
 * Deregistering a stopping task: the use case of the deregister function (`functions/deregister.ts`),
 * on top of {@link Registry.stopTask}. Kept apart from the registrar so the deregister function's
 * bundle carries no ECS client: a stop needs nothing but etcd.
 */
import { refOf, type Registry, type TaskRef } from './etcd/registry';
import type { Log } from './log';
import type { DeregisterOutcome } from './outcomes';

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

/**
 * What {@link deregisterTask} would do, logged at INFO and returned, with nothing written (no
 * lease grant, no transaction, no revoke): for `DRY_RUN`. Reads the record, the tombstone and the
 * lease of each endpoint key, so the keys listed are exactly those the real stop would delete
 * (a key now held by another task's lease is left alone by it too).
 */
export async function planDeregister(
  registry: Registry,
  task: TaskRef & { readonly version: number; readonly stoppedAt?: string },
  log: Pick<Log, 'info'>,
): Promise<DeregisterOutcome> {
  const ref = refOf(task);
  const { record, tombstone } = await registry.readTask(ref);
  if (tombstone && !record) {
    log.info('dry run: deregister would change nothing (already stopped)', {
      taskArn: task.taskArn,
      tombstone: tombstone.tombstone,
    });
    return { action: 'unchanged', taskArn: task.taskArn, keys: [], dryRun: true };
  }
  const leases = record ? await registry.keyLeases(record.record.keys) : new Map<string, string>();
  const keys = record ? record.record.keys.filter((k) => leases.get(k) === record.lease) : [];
  log.info('dry run: deregister would write a tombstone and delete the task', {
    taskArn: task.taskArn,
    action: record ? 'removed' : 'tombstoned',
    tombstone: {
      taskArn: task.taskArn,
      version: Math.max(task.version, tombstone?.tombstone.version ?? 0),
      stoppedAt: task.stoppedAt ?? new Date().toISOString(),
    },
    deleteRecord: record?.key,
    deleteKeys: keys,
    leftToOtherTasks: record ? record.record.keys.filter((k) => !keys.includes(k)) : [],
    revokeLease: record?.lease,
  });
  return { action: record ? 'removed' : 'tombstoned', taskArn: task.taskArn, keys, dryRun: true };
}
