/**
 * Renew over the register use case: one tick whose writes go through {@link Registrar.register},
 * so the guards of a write from ECS's answer are those of a write from an event. Renew composes
 * register here; the registrar knows nothing of renew.
 */
import { WriteSource } from '../decide';
import type { Registrar } from '../registrar';
import type { RenewSummary } from './summary';
import { renewTick } from './tick';

/** Options of {@link renewTasks}. */
export interface RenewTasksOptions {
  /**
   * Decide everything, write nothing (not even keepalives: lease TTLs are only read), and list
   * every change the tick would make in `planned` (the steps the real tick would take from the
   * same facts, listed in `applied`).
   * @default the registrar's `DRY_RUN`
   */
  readonly dryRun?: boolean;
}

/**
 * One renew tick: renews the lease of every recorded task, asks ECS about them (100 per
 * DescribeTasks), rewrites, withdraws or removes the tasks ECS says changed, stopped or are gone,
 * restores lost endpoint keys, then registers the running tasks of each served cluster that
 * ListTasks lists without a record (lost events). If ECS fails for a cluster, nothing of it is
 * removed (fail open). A MISSING answer removes nothing before a later tick confirms it, and
 * never leaves a tombstone. One failing task never stops the run. The decision is the pure
 * `planRenew` (lib/renew/plan.ts); {@link renewTick} runs its steps.
 *
 * @example
 * const summary = await renewTasks(registrar);
 */
export function renewTasks(registrar: Registrar, options: RenewTasksOptions = {}): Promise<RenewSummary> {
  const { deps } = registrar;
  return renewTick(
    {
      ...deps,
      register: (task, known) => registrar.register(task, { source: WriteSource.Ecs, known }),
      prepare: (task) => registrar.prepare(task, WriteSource.Ecs),
    },
    { dryRun: options.dryRun ?? deps.config.dryRun },
  );
}
