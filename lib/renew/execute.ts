/**
 * Carries out the steps of a renew plan (`lib/renew/plan.ts`), a few at a time, one failing step
 * never stopping the rest, each change logged on one INFO line. In a dry run each step is only
 * worked out (what register would write) and logged: nothing is written.
 */
import pLimit from 'p-limit';
import type { Config } from '../config';
import { errorMessage, InvalidEventError } from '../errors';
import { storedRef, type DesiredTask, type Registry, type TaskState } from '../etcd/registry';
import type { TaskSnapshot } from '../ecs/task';
import type { Log } from '../log';
import type { RegisterOutcome } from '../outcomes';
import { StepKind, type RenewStep } from './plan';
import type { AppliedChange, RenewSummary } from './summary';

/** What the executor needs. */
export interface ExecuteContext {
  readonly config: Pick<Config, 'registryPrefix' | 'renewConcurrency'>;
  readonly registry: Registry;
  readonly log: Log;
  readonly dryRun: boolean;
  readonly summary: RenewSummary;
  readonly fail: (taskArn: string, error: string) => void;
  readonly register: (task: TaskSnapshot, known?: TaskState) => Promise<RegisterOutcome>;
  readonly prepare: (task: TaskSnapshot) => Promise<{ readonly desired: DesiredTask }>;
}

type Counter = 'registered' | 'restored' | 'repaired' | 'withdrawn' | 'removed' | 'missing' | 'clustersRemoved';

/** The summary count each kind of step adds to when it takes effect. */
const COUNTER: Record<StepKind, Counter | undefined> = {
  [StepKind.Register]: 'registered',
  [StepKind.RestoreKeys]: 'restored',
  [StepKind.Repair]: 'repaired',
  [StepKind.Withdraw]: 'withdrawn',
  [StepKind.Deregister]: 'removed',
  [StepKind.MarkMissing]: 'missing',
  [StepKind.RemoveMissing]: 'removed',
  [StepKind.ClearMissing]: undefined,
  [StepKind.RemoveGone]: 'removed',
  [StepKind.ForgetCluster]: 'clustersRemoved',
};

/** The services (directories under the registry prefix) some endpoint keys belong to. */
export function servicesOf(registryPrefix: string, keys: readonly string[]): string[] {
  const skip = registryPrefix === '' ? 0 : registryPrefix.length + 1;
  return [...new Set(keys.map((k) => k.slice(skip, k.lastIndexOf('/'))))];
}

/** Runs (or, in a dry run, lists) every step; counts and failures go to `ctx.summary`. */
export async function executeSteps(steps: readonly RenewStep[], ctx: ExecuteContext): Promise<void> {
  const limit = pLimit(ctx.config.renewConcurrency);
  await Promise.all(steps.map((step) => limit(() => runStep(step, ctx))));
}

async function runStep(step: RenewStep, ctx: ExecuteContext): Promise<void> {
  const { summary, log } = ctx;
  const counter = COUNTER[step.kind];
  const line = (keys: readonly string[], extra: Record<string, unknown>) => ({
    taskArn: step.taskArn,
    cluster: step.cluster,
    services: servicesOf(ctx.config.registryPrefix, keys),
    keys,
    action: step.kind,
    reason: step.reason,
    ...extra,
  });
  if (ctx.dryRun) {
    let keys: readonly string[] = 'stored' in step ? step.stored.record.keys : [];
    let state: string | undefined;
    try {
      if (step.kind === StepKind.Register || step.kind === StepKind.RestoreKeys || step.kind === StepKind.Repair) {
        const { desired } = await ctx.prepare(step.task);
        keys = desired.entries.map((e) => e.key);
        state = desired.state;
      }
    } catch (err) {
      failStep(step, err, ctx);
      return;
    }
    summary.planned.push({ taskArn: step.taskArn, action: step.kind, reason: step.reason, keys });
    if (counter) summary[counter]++;
    log.info(`dry run: renew would ${step.kind}`, line(keys, state ? { state } : {}));
    return;
  }
  let result: AppliedChange['result'] = 'done';
  let keys: readonly string[] = 'stored' in step ? step.stored.record.keys : [];
  try {
    const outcome = await apply(step, ctx);
    if (outcome === false) result = 'unchanged';
    else if (outcome !== true) {
      keys = outcome.keys;
      if (outcome.action === 'ignored') result = 'unchanged';
      else if (outcome.ambiguities?.length) summary.ambiguous++;
    }
  } catch (err) {
    failStep(step, err, ctx);
    result = 'failed';
  }
  summary.applied.push({ taskArn: step.taskArn, action: step.kind, reason: step.reason, keys, result });
  if (result === 'done' && counter) summary[counter]++;
  if (step.kind === StepKind.ForgetCluster)
    log.error(
      'cluster no longer exists: its tasks were removed and the cluster forgotten',
      line([], { result, status: step.status }),
    );
  else log.info(`renew ${step.kind}`, line(keys, { result }));
}

function failStep(step: RenewStep, err: unknown, ctx: ExecuteContext): void {
  if (err instanceof InvalidEventError)
    ctx.log.warn('task cannot be registered', { taskArn: step.taskArn, error: err.message });
  ctx.fail(step.taskArn, errorMessage(err));
}

/** Applies one step: true/false for done/unchanged, or the register outcome. */
async function apply(step: RenewStep, ctx: ExecuteContext): Promise<boolean | RegisterOutcome> {
  const { registry } = ctx;
  switch (step.kind) {
    case StepKind.Register:
    case StepKind.RestoreKeys:
      return ctx.register(step.task, { record: step.stored });
    case StepKind.Repair:
      return ctx.register(step.task);
    case StepKind.Withdraw: {
      if (await registry.withdrawTask(step.stored, step.task.version)) return true;
      ctx.fail(step.taskArn, 'record changed while withdrawing; next tick decides again');
      return false;
    }
    case StepKind.Deregister:
      await registry.stopTask(storedRef(step.stored), step.task.version, new Date().toISOString());
      return true;
    case StepKind.MarkMissing:
      return registry.markMissing(step.stored, step.firstSeen);
    case StepKind.ClearMissing:
      await registry.clearMissing(storedRef(step.stored));
      return true;
    case StepKind.RemoveMissing:
    case StepKind.RemoveGone:
      return registry.removeTask(step.stored);
    case StepKind.ForgetCluster:
      await registry.forgetCluster(step.clusterArn);
      return true;
  }
}
