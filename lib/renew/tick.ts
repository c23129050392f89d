/**
 * The renew tick: read what etcd holds and renew every lease, ask ECS, decide with the pure
 * {@link planRenew}, then carry the steps out (or, in a dry run, only list and log them).
 */
import type { Etcd3 } from 'etcd3';
import type { Config } from '../config';
import { RecordState } from '../decide';
import { clusterGone, isClusterNotFound, type DescribedTasks, type EcsReader } from '../ecs/reader';
import { clusterNameOf } from '../ecs/arn';
import type { TaskSnapshot } from '../ecs/task';
import { DeadlineError, DependencyError, errorMessage } from '../errors';
import { invocationDeadlineMs } from '../etcd/client';
import { keepAliveLeases, probeLeases } from '../etcd/keepalive';
import type { OrphanSweep } from '../etcd/orphans';
import type { DesiredTask, Registry, StoredRecord, TaskState } from '../etcd/registry';
import type { Log } from '../log';
import type { RegisterOutcome } from '../outcomes';
import { executeSteps } from './execute';
import { planRenew, type Answer, type ClusterFacts } from './plan';
import type { RenewSummary } from './summary';
import { TickVerification } from './verification';

/** What the tick needs: the registrar's dependencies and its register path. */
export interface RenewDeps {
  readonly config: Config;
  readonly etcd: Etcd3;
  readonly registry: Registry;
  readonly ecs: EcsReader;
  readonly log: Log;
  /** Writes a task from ECS's answer through the register path, so the same write guards apply. */
  readonly register: (task: TaskSnapshot, known?: TaskState) => Promise<RegisterOutcome>;
  /** What {@link RenewDeps.register} would write, without writing (dry run). */
  readonly prepare: (task: TaskSnapshot) => Promise<{ readonly desired: DesiredTask }>;
}

/** Runs one renew tick (see `renewTasks` in lib/renew/run.ts, which composes it with register). */
export async function renewTick(deps: RenewDeps, { dryRun }: { readonly dryRun: boolean }): Promise<RenewSummary> {
  const { log } = deps;
  const summary = emptySummary(dryRun);
  const clock = stopwatch(summary);
  const fail = (taskArn: string, error: string) => {
    summary.failed++;
    summary.failures.push({ taskArn, error });
  };

  const { records, endpointLeases, missingMarks } = await readRegistry(deps, clock, fail);
  summary.records = records.length;
  const leaseIds = records.map((s) => s.lease);
  const leases = await renewLeases(deps, leaseIds, dryRun);
  clock.phase('keepAlive');

  const ecs = await askEcs(deps, records, leases.expired, dryRun);
  summary.ecsFailures.push(...ecs.ecsFailures);
  summary.durationsMs.describe = ecs.durationsMs.describe;
  summary.durationsMs.reconcile = ecs.durationsMs.reconcile;
  const tombstoned = await readTombstones(deps, ecs.facts, fail);
  summary.durationsMs.reconcile = round(summary.durationsMs.reconcile + tombstoned.ms);
  clock.restart();

  const plan = planRenew({
    records,
    leases,
    clusters: ecs.facts,
    endpointLeases,
    missingMarks,
    tombstoned: tombstoned.arns,
    now: new Date().toISOString(),
  });
  summary.renewed = plan.renewed;
  summary.failOpen = plan.failOpen;
  for (const f of plan.failures) fail(f.taskArn, f.error);
  await executeSteps(plan.steps, { ...deps, dryRun, summary, fail });
  clock.phase('changes');

  summary.orphanLeases = await sweepOrphans(deps, leaseIds, endpointLeases, dryRun);
  summary.verification = await ecs.verification.finish(log);
  if (summary.verification.left.tasks + summary.verification.left.clusters > 0)
    log.warn('renew stopped starting ECS work for its deadline: the rest of its slice is left for the next tick', {
      left: summary.verification.left,
    });
  summary.durationsMs.total = clock.total();
  return summary;
}

function emptySummary(dryRun: boolean): RenewSummary {
  return {
    dryRun,
    records: 0,
    renewed: 0,
    registered: 0,
    repaired: 0,
    restored: 0,
    removed: 0,
    missing: 0,
    withdrawn: 0,
    clustersRemoved: 0,
    failOpen: 0,
    ambiguous: 0,
    failed: 0,
    failures: [],
    ecsFailures: [],
    planned: [],
    applied: [],
    durationsMs: { records: 0, keys: 0, keepAlive: 0, describe: 0, changes: 0, reconcile: 0, total: 0 },
  };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** Times the tick's phases into its summary: each phase runs from the end of the one before. */
function stopwatch(summary: RenewSummary) {
  const started = performance.now();
  let mark = started;
  return {
    phase(name: 'records' | 'keys' | 'keepAlive' | 'changes'): void {
      const now = performance.now();
      summary.durationsMs[name] = round(now - mark);
      mark = now;
    },
    /** Starts the next phase now (the time since the last one is counted elsewhere). */
    restart(): void {
      mark = performance.now();
    },
    total: () => round(performance.now() - started),
  };
}

/** Reads the task records, then the endpoint keys' leases and the MISSING marks. */
async function readRegistry(
  deps: RenewDeps,
  clock: ReturnType<typeof stopwatch>,
  fail: (taskArn: string, error: string) => void,
) {
  const { config, registry, log } = deps;
  const { records, invalid, foreign } = await registry.listRecords();
  for (const bad of invalid) fail(bad.key, `unreadable task record: ${bad.error}`);
  // Another deployment's (or an unmoved old-layout) record is neither renewed, verified nor removed.
  if (foreign.length > 0)
    log.error("renew skipped records that are not this deployment's", {
      count: foreign.length,
      records: foreign.slice(0, 10),
    });
  clock.phase('records');
  // Read right after the records, so a write landing in between is rare (and guarded anyway).
  const endpointLeases = records.some((s) => s.record.state === RecordState.Registered)
    ? await registry.listKeyLeases(config.registryPrefix === '' ? '' : `${config.registryPrefix}/`)
    : undefined;
  const missingMarks = await registry.listMissingMarks();
  clock.phase('keys');
  return { records, endpointLeases, missingMarks };
}

/**
 * Renews every lease before ECS is asked anything: ECS is the slow part (its read budget is
 * about 20 requests a second), and a tick cut short after this still leaves the registry alive.
 * A task ECS then reports stopped had its lease renewed once more; it is revoked moments later.
 */
function renewLeases(deps: RenewDeps, leaseIds: readonly string[], dryRun: boolean) {
  const { config } = deps;
  return dryRun
    ? probeLeases(deps.etcd, leaseIds, config.renewConcurrency)
    : keepAliveLeases(deps.etcd, leaseIds, {
        inFlight: config.renewConcurrency * 8,
        timeoutMs: config.etcdTimeoutMs * 2,
        firstAnswerMs: config.etcdTimeoutMs,
      });
}

/** The tombstones among the repair candidates; undefined when they could not be read. */
async function readTombstones(
  deps: RenewDeps,
  clusters: ReadonlyMap<string, ClusterFacts>,
  fail: (taskArn: string, error: string) => void,
): Promise<{ arns: Set<string> | undefined; ms: number }> {
  const repairable = [...clusters.values()].flatMap((c) =>
    c.served && c.unrecorded?.ok ? c.unrecorded.value.tasks : [],
  );
  let arns: Set<string> | undefined = new Set<string>();
  const timer = performance.now();
  try {
    if (repairable.length > 0) arns = await deps.registry.tombstoned(repairable);
  } catch (err) {
    // Without knowing the tombstones, repairs would be planned that the write then refuses.
    for (const task of repairable) fail(task.taskArn, `tombstones could not be read: ${errorMessage(err)}`);
    arns = undefined;
  }
  return { arns, ms: performance.now() - timer };
}

/**
 * Revokes this deployment's leases that hold no key, after the tick's own changes (its stops have
 * revoked their leases, its writes are on theirs). Leases the records or endpoint keys refer to are
 * not even looked at; the sweep stops two etcd deadlines before the invocation's.
 */
async function sweepOrphans(
  deps: RenewDeps,
  recordLeases: readonly string[],
  endpointLeases: ReadonlyMap<string, string> | undefined,
  dryRun: boolean,
): Promise<OrphanSweep> {
  const referenced = new Set([...recordLeases, ...(endpointLeases?.values() ?? [])]);
  const deadline = invocationDeadlineMs();
  const swept = await deps.registry.sweepOrphanLeases({
    referenced,
    dryRun,
    concurrency: deps.config.renewConcurrency,
    stopAt: deadline === undefined ? undefined : deadline - 2 * deps.config.etcdTimeoutMs,
  });
  if (swept.revoked > 0)
    deps.log.info(dryRun ? 'renew would revoke leases holding no key' : 'renew revoked leases holding no key', {
      revoked: swept.revoked,
    });
  if (swept.errors.length > 0) deps.log.warn('renew could not sweep every orphan lease', { errors: swept.errors });
  return swept;
}

/**
 * An ECS answer; a failure says whether ECS did not know the cluster (a hint to confirm), or
 * whether no read slot was left before the deadline.
 */
type Asked<T> =
  | Answer<T>
  | { readonly ok: false; readonly error: string; readonly notFound: boolean; readonly outOfTime: boolean };

/** DescribeTasks answers of several batches of one cluster, as one. */
function merged(parts: readonly DescribedTasks[]): DescribedTasks {
  return {
    tasks: parts.flatMap((p) => p.tasks),
    missing: parts.flatMap((p) => p.missing),
    invalid: parts.flatMap((p) => p.invalid),
  };
}

/**
 * Asks ECS about this tick's slice of the records (DescribeTasks) and of the served clusters
 * (ListTasks, then DescribeTasks of the running tasks without a record), within the read budget
 * ({@link TickVerification}: the cursor in etcd, K, what is left for the next tick). A record
 * outside the slice is not asked about and only gets its keepalive. ClusterNotFoundException is
 * confirmed with DescribeClusters before a cluster counts as gone; any other failure is an outage
 * (fail open). An ECS read refused for the deadline leaves its unit for the next tick.
 */
async function askEcs(
  deps: RenewDeps,
  records: readonly StoredRecord[],
  expired: ReadonlySet<string>,
  dryRun: boolean,
): Promise<EcsAnswers> {
  const { config, log } = deps;
  const { arns, served } = await clustersToAsk(deps, records);
  // Tasks whose lease expired are asked about first, outside the pass order.
  const urgent = new Set(records.filter((s) => expired.has(s.lease)).map((s) => s.record.taskArn));
  const verification = await TickVerification.start(
    { etcd: deps.etcd, config, log },
    { records, served, urgent, dryRun },
  );
  const asker: Asker = { deps, ecsFailures: [], durationsMs: { describe: 0, reconcile: 0 } };
  const described = await describeSlice(asker, verification);
  const recorded = new Set(records.map((s) => s.record.taskArn));
  const facts = new Map<string, ClusterFacts>();
  for (const [name, cluster] of arns)
    facts.set(name, await clusterFacts(asker, verification, described, { name, cluster, served, recorded }));
  return { facts, verification, ecsFailures: asker.ecsFailures, durationsMs: asker.durationsMs };
}

/** What ECS said this tick, how long it took, and where it failed. */
interface EcsAnswers {
  readonly facts: Map<string, ClusterFacts>;
  readonly verification: TickVerification;
  readonly ecsFailures: { cluster: string; error: string }[];
  readonly durationsMs: { describe: number; reconcile: number };
}

/** What the ECS calls of one tick share: the clients, and the failures and times they add up. */
interface Asker {
  readonly deps: RenewDeps;
  readonly ecsFailures: { cluster: string; error: string }[];
  readonly durationsMs: { describe: number; reconcile: number };
}

/** The clusters of the records and the served ones (configured, else known to etcd), by name. */
async function clustersToAsk(deps: RenewDeps, records: readonly StoredRecord[]) {
  const { config, registry, log } = deps;
  const arns = new Map<string, string>();
  for (const stored of records) arns.set(clusterNameOf(stored.record.clusterArn), stored.record.clusterArn);
  const served = new Map(config.clusters.map((c) => [clusterNameOf(c), c]));
  if (served.size === 0) {
    try {
      for (const arn of await registry.knownClusters()) served.set(clusterNameOf(arn), arn);
    } catch (err) {
      // The leases are renewed already; a tick that cannot read the cluster list still verifies
      // the clusters of its records.
      log.warn('renew could not read the known clusters: reconciling those of the records only', {
        error: errorMessage(err),
      });
    }
    for (const [name, arn] of arns) served.set(name, arn);
  }
  for (const [name, arn] of served) if (!arns.has(name)) arns.set(name, arn);
  return { arns, served };
}

/** An ECS call's answer, its time added to the tick's. */
async function timed<T>(asker: Asker, into: 'describe' | 'reconcile', fn: () => Promise<T>): Promise<Asked<T>> {
  const started = performance.now();
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: errorMessage(err), notFound: isClusterNotFound(err), outOfTime: outOfTime(err) };
  } finally {
    asker.durationsMs[into] = Math.round((asker.durationsMs[into] + performance.now() - started) * 10) / 10;
  }
}

/** DescribeClusters' status when it confirms the cluster is gone; undefined otherwise (including when it fails). */
async function confirmGone(asker: Asker, cluster: string): Promise<string | undefined> {
  const answer = await timed(asker, 'describe', () => asker.deps.ecs.describeClusters([cluster]));
  if (!answer.ok) return undefined;
  const status = answer.value.get(cluster);
  return clusterGone(status) ? status : undefined;
}

const FAIL_OPEN = 'ECS failed for cluster: renewing its leases without removing anything (fail open)';
const NO_REPAIR = 'ECS failed for cluster during reconcile: nothing repaired there this tick';

/** After a failed call: DescribeClusters' status if it confirms the cluster gone; else the failure is recorded and logged. */
async function failed(
  asker: Asker,
  cluster: string,
  answer: Asked<unknown> & { ok: false },
  warning: string,
): Promise<string | undefined> {
  const gone = 'notFound' in answer && answer.notFound ? await confirmGone(asker, cluster) : undefined;
  if (!gone) {
    asker.ecsFailures.push({ cluster, error: answer.error });
    asker.deps.log.warn(warning, { cluster, error: answer.error });
  }
  return gone;
}

/** DescribeTasks of this tick's slice, by cluster name. */
interface SliceAnswers {
  readonly answers: Map<string, DescribedTasks[]>;
  readonly failures: Map<string, Asked<DescribedTasks> & { ok: false }>;
  readonly gone: Map<string, string>;
}

/** DescribeTasks of this tick's slice, a batch of at most 100 of one cluster at a time. */
async function describeSlice(asker: Asker, verification: TickVerification): Promise<SliceAnswers> {
  const answers = new Map<string, DescribedTasks[]>();
  const failures = new Map<string, Asked<DescribedTasks> & { ok: false }>();
  const gone = new Map<string, string>();
  for (const unit of verification.describeUnits()) {
    if (unit.kind !== 'describe' || !verification.canStart(unit)) break;
    if (failures.has(unit.name) || gone.has(unit.name)) {
      verification.done(unit);
      continue;
    }
    const answer = await timed(asker, 'describe', () => asker.deps.ecs.describeTasks(unit.cluster, unit.taskArns));
    if (answer.ok) {
      const parts = answers.get(unit.name);
      if (parts) parts.push(answer.value);
      else answers.set(unit.name, [answer.value]);
    } else if ('outOfTime' in answer && answer.outOfTime) {
      break; // no read slot before the deadline: this unit and the rest are left for the next tick
    } else {
      const status = await failed(asker, unit.cluster, answer, FAIL_OPEN);
      if (status) gone.set(unit.name, status);
      else failures.set(unit.name, answer);
    }
    verification.done(unit);
  }
  return { answers, failures, gone };
}

/** One cluster's facts: gone, failed (fail open), or described, then listed and its unrecorded tasks described. */
async function clusterFacts(
  asker: Asker,
  verification: TickVerification,
  slice: SliceAnswers,
  at: {
    readonly name: string;
    readonly cluster: string;
    readonly served: ReadonlyMap<string, string>;
    readonly recorded: ReadonlySet<string>;
  },
): Promise<ClusterFacts> {
  const { name, cluster, served } = at;
  const base = { cluster, served: served.has(name) };
  // A cluster ECS failed for (fail open) or confirmed gone is not listed this tick, and its
  // listing is not left for the next: it is done as far as this tick goes.
  const skipped = served.has(name) ? verification.listUnit(name) : undefined;
  if (slice.gone.has(name)) {
    if (skipped) verification.done(skipped);
    return { ...base, gone: slice.gone.get(name)! };
  }
  const failure = slice.failures.get(name);
  if (failure) {
    if (skipped) verification.done(skipped);
    return { ...base, described: failure };
  }
  const parts = slice.answers.get(name);
  const described: Answer<DescribedTasks> | undefined = parts ? { ok: true, value: merged(parts) } : undefined;
  // ListTasks serves reconcile (in this tick's slice), and confirms a MISSING answer before anything is removed.
  const unit = base.served ? verification.listUnit(name) : undefined;
  const confirming = described?.ok === true && described.value.missing.length > 0;
  const listNow =
    (unit !== undefined && verification.canStart(unit)) ||
    (confirming && (verification.stopAt === undefined || Date.now() <= verification.stopAt));
  if (!listNow) return { ...base, described };
  return listAndRepair(asker, verification, { ...at, base, described, unit });
}

/** ListTasks of one cluster, then DescribeTasks of the running tasks without a record (in this tick's slice). */
async function listAndRepair(
  asker: Asker,
  verification: TickVerification,
  at: {
    readonly name: string;
    readonly cluster: string;
    readonly recorded: ReadonlySet<string>;
    readonly base: { cluster: string; served: boolean };
    readonly described: Answer<DescribedTasks> | undefined;
    readonly unit: ReturnType<TickVerification['listUnit']>;
  },
): Promise<ClusterFacts> {
  const { ecs, log } = asker.deps;
  const { name, cluster, base, described, unit } = at;
  // Pages stop at the tick's ECS stop time, so a listing too long for one tick never eats the
  // time kept for the writes (and the invocation never overruns its deadline).
  const listed = await timed(asker, 'reconcile', () => ecs.listRunningTasks(cluster, { until: verification.stopAt }));
  if (!listed.ok && 'outOfTime' in listed && listed.outOfTime) {
    // Left for the next tick; a cluster whose listing never fits one tick says so every tick.
    log.warn('renew could not list a cluster before its ECS stop time: left for the next tick', {
      cluster,
      error: listed.error,
      hint: 'a cluster whose running tasks take more ListTasks pages than one tick can read needs a higher ECS_MAX_READS_PER_SECOND',
    });
    return { ...base, described };
  }
  if (unit) verification.done(unit);
  if (!listed.ok) {
    const status = await failed(asker, cluster, listed, NO_REPAIR);
    return status ? { ...base, gone: status } : { ...base, described, listed };
  }
  verification.listed(name, listed.value.length);
  // Repairs only where this tick's slice lists the cluster for reconcile.
  const unrecordedArns = base.served && unit ? listed.value.filter((arn) => !at.recorded.has(arn)) : [];
  const unrecorded =
    unrecordedArns.length > 0
      ? await timed(asker, 'reconcile', () => ecs.describeTasks(cluster, unrecordedArns))
      : undefined;
  const status = unrecorded && !unrecorded.ok ? await failed(asker, cluster, unrecorded, NO_REPAIR) : undefined;
  return status ? { ...base, gone: status } : { ...base, described, listed, unrecorded };
}

const outOfTime = (err: unknown) => err instanceof DependencyError && err.cause instanceof DeadlineError;
