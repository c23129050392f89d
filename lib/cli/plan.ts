/**
 * What renew would change now, for `diff`. The one place the CLI asks renew for its plan, so
 * the plan shown is exactly the one the next tick carries out.
 */
import type { PlannedChange, Registrar } from '../registrar';

/** renew's plan for the current state of etcd and ECS, and what kept it from being complete. */
export interface RenewPlan {
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
 * const { planned } = await planRenew(registrar);
 */
export async function planRenew(registrar: Pick<Registrar, 'renew'>): Promise<RenewPlan> {
  const summary = await registrar.renew({ dryRun: true });
  return {
    records: summary.records,
    planned: summary.planned,
    ecsFailures: summary.ecsFailures,
    failures: summary.failures,
  };
}
