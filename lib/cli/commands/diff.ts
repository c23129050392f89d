/**
 * `diff`: what renew would change now. The one place the CLI asks renew for its dry run, so the
 * changes shown are exactly the ones the next tick carries out.
 */
import type { Registrar } from '../../registrar';
import { renewTasks } from '../../renew/run';
import type { PlannedChange } from '../../renew/summary';

/** renew's plan for the current state of etcd and ECS, and what kept it from being complete. */
export interface RenewDryRun {
  /** Task records renew would look at. */
  readonly records: number;
  /** Every change renew would make (lease renewals are not listed). */
  readonly planned: readonly PlannedChange[];
  /** Clusters ECS failed for: renew would change nothing there (fail open), so the plan is partial. */
  readonly ecsFailures: readonly { readonly cluster: string; readonly error: string }[];
  /** Tasks renew could not decide about, and why. */
  readonly failures: readonly { readonly taskArn: string; readonly error: string }[];
}

/**
 * Runs renew's decision without writing anything (its dry run: no write, no keepalive; lease TTLs
 * are only read) and returns the changes it would make.
 *
 * @example
 * const { planned } = await dryRunRenew(registrar);
 */
export async function dryRunRenew(registrar: Registrar): Promise<RenewDryRun> {
  const summary = await renewTasks(registrar, { dryRun: true });
  return {
    records: summary.records,
    planned: summary.planned,
    ecsFailures: summary.ecsFailures,
    failures: summary.failures,
  };
}
