/**
 * The registrar's use cases: register a started task, deregister a stopping one, and the renew
 * tick. Each reads what it needs through the ECS reader, decides with the pure functions and
 * writes through the registry; handlers in `functions/` only validate and call these.
 */
import pLimit from 'p-limit';
import type { Config } from './config';
import {
  decideRenew,
  evaluateHealth,
  RecordState,
  RenewAction,
  targetState,
  WriteSource,
} from './decide';
import type { EcsReader } from './ecs/api';
import { parseTaskStateChange, TaskPhase, taskPhase, type TaskSnapshot } from './ecs/event';
import { MissingNetworkInfo, needsHostIp, planEndpoints, type EndpointPlan } from './endpoints';
import type { TaskDefinitionInfo } from './ecs/task-definition';
import { DeadlineError, DependencyError, errorMessage, InvalidEventError } from './errors';
import { keepAliveLeases, probeLeases } from './etcd/keepalive';
import { TickVerification, type VerificationReport } from './renew/verification';
import type { DesiredTask, Registry, StoredRecord, TaskRef, TaskState } from './etcd/registry';
import { deregisterTask, refOf, type DeregisterOutcome } from './deregister';
import { endpointKey, endpointValue, type EndpointMetadata } from './keys';
import type { Etcd3 } from 'etcd3';

/** The few logger methods the registrar uses (Powertools' Logger fits). */
export interface Log {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** What registering one task did. */
export interface RegisterOutcome {
  readonly action: 'registered' | 'pending' | 'withdrawn' | 'empty' | 'ignored';
  readonly taskArn: string;
  /** Why nothing changed (`ignored`): stale, duplicate, stopped. */
  readonly reason?: string;
  /** Endpoint keys now published for the task. */
  readonly keys: readonly string[];
  /** Containers left out and why. */
  readonly skipped?: readonly { readonly container: string; readonly reason: string }[];
}

/** What the register function answers for an ECS task event that is not of a started task. */
export interface NotStarted {
  readonly action: 'ignored';
  readonly taskArn: string;
  readonly reason: string;
}

/** True for the answer to an event that is not of a started task (nothing was attempted). */
export const isNotStarted = (outcome: RegisterOutcome | NotStarted): outcome is NotStarted => !('keys' in outcome);

/** A change a dry-run renew tick would have made. */
export interface PlannedChange {
  readonly taskArn: string;
  readonly action: 'register' | 'withdraw' | 'deregister' | 'repair';
  readonly reason: string;
}

/** One renew tick's result: counts, and exactly what failed. */
export interface RenewSummary {
  /** True when nothing was written (`DRY_RUN`): the counts say what would have happened. */
  dryRun: boolean;
  /** Task records found at the start of the tick. */
  records: number;
  /** Leases renewed with nothing else to do. */
  renewed: number;
  /** Tasks (re)written from ECS's answer: turned healthy, changed, or lease found expired. */
  registered: number;
  /** Running tasks found by ListTasks that had no record (lost events), now written. */
  repaired: number;
  /** Tasks removed because ECS says they stopped, are stopping or are gone. */
  removed: number;
  /** Tasks whose endpoints were withdrawn because ECS says they are unhealthy. */
  withdrawn: number;
  /** Leases renewed without asking ECS, because ECS failed for their cluster (fail open). */
  failOpen: number;
  /** Tasks that could not be handled this tick. */
  failed: number;
  /** What failed, per task. */
  failures: { taskArn: string; error: string }[];
  /** Clusters for which ECS failed. */
  ecsFailures: { cluster: string; error: string }[];
  /** Dry run only: every change the tick would have made (renewals not listed). */
  planned: PlannedChange[];
  /** What this tick verified with ECS under the read budget, K, and what it left for the next tick. */
  verification?: VerificationReport;
  /**
   * Milliseconds spent reading the task records, renewing their leases, asking ECS about them
   * (DescribeTasks), writing the changes, and reconciling with ListTasks; and the whole tick.
   */
  durationsMs: { records: number; keepAlive: number; describe: number; changes: number; reconcile: number; total: number };
}

/** Dependencies of the {@link Registrar}. */
export interface RegistrarDeps {
  readonly config: Config;
  readonly etcd: Etcd3;
  readonly registry: Registry;
  readonly ecs: EcsReader;
  readonly log: Log;
}

const CLUSTER_NAME = /^(?:arn:[^:]+:ecs:[^:]+:\d{12}:cluster\/)?([A-Za-z0-9_-]+)$/;
const clusterName = (cluster: string) => CLUSTER_NAME.exec(cluster)?.[1] ?? cluster;

/** Registers, deregisters and renews tasks. */
export class Registrar {
  private readonly reserved: readonly string[];

  constructor(private readonly deps: RegistrarDeps) {
    // With an empty registry prefix, a service named like the state prefix's first segment would
    // put endpoint keys among the task records.
    this.reserved = deps.config.registryPrefix === '' ? [deps.config.statePrefix.split('/')[0]!] : [];
  }

  /**
   * Works out what a started task should look like in etcd (its endpoints, the health gate, the
   * keys and values) without writing anything.
   *
   * @param source on `event`, an event that lacks addresses or bindings (older shapes) is
   *   completed with one DescribeTasks.
   */
  async prepare(task: TaskSnapshot, source: WriteSource = WriteSource.Event): Promise<{ desired: DesiredTask; skipped: EndpointPlan['skipped'] }> {
    const { config, ecs } = this.deps;
    const definition = await ecs.taskDefinition(task.taskDefinitionArn);
    let plan: EndpointPlan;
    try {
      plan = await this.plan(task, definition);
    } catch (err) {
      if (!(err instanceof MissingNetworkInfo) || source !== WriteSource.Event) throw err;
      // The event lacked addresses or bindings (older shapes do): ask ECS for the task itself.
      const fresh = (await ecs.describeTasks(task.clusterArn, [task.taskArn])).tasks[0];
      if (!fresh) throw new DependencyError('ecs', `task ${task.taskArn}: ${err.message}, and DescribeTasks does not know it`);
      task = fresh.version >= task.version ? fresh : task;
      try {
        plan = await this.plan(task, definition);
      } catch (again) {
        if (again instanceof MissingNetworkInfo) throw new DependencyError('ecs', `task ${task.taskArn}: ${again.message}`);
        throw again;
      }
    }
    const state = targetState(evaluateHealth(task, plan.gatedContainers), plan.endpoints.length);
    const metadata = (container: string): EndpointMetadata => ({
      taskArn: task.taskArn,
      cluster: task.clusterArn,
      availabilityZone: task.availabilityZone,
      taskDefinition: task.taskDefinitionArn,
      container,
      version: task.version,
      startedAt: task.startedAt,
      launchType: task.launchType,
    });
    const entries =
      state === RecordState.Registered
        ? plan.endpoints.map((e) => ({ key: endpointKey(config, task.taskId, e), value: endpointValue(config.valueFormat, e, metadata(e.container)) }))
        : [];
    return {
      desired: { ...refOf(task), version: task.version, state, taskDefinitionArn: task.taskDefinitionArn, gatedContainers: plan.gatedContainers, entries },
      skipped: plan.skipped,
    };
  }

  /**
   * Publishes a started task: works out its endpoints, applies the health gate, and writes its
   * record and keys under one lease in one transaction (stale, duplicate and stopped ignored).
   *
   * @param source `event` for ECS events (a same-version redelivery is a duplicate); `ecs` when
   *   the task comes from ECS's own answer during renew.
   * @example
   * const outcome = await registrar.register(parseTaskStateChange(event).task);
   */
  async register(task: TaskSnapshot, source: WriteSource = WriteSource.Event, known?: TaskState, granted?: Promise<string>): Promise<RegisterOutcome> {
    let prepared;
    try {
      prepared = await this.prepare(task, source);
    } catch (err) {
      if (granted) await this.deps.registry.release(granted);
      throw err;
    }
    const { desired, skipped } = prepared;
    const result = await this.deps.registry.writeTask(desired, source, known, granted);
    if (result.status === 'ignored') return { action: 'ignored', taskArn: desired.taskArn, reason: result.reason, keys: [], skipped };
    return { action: desired.state === RecordState.Registered ? 'registered' : desired.state, taskArn: desired.taskArn, keys: result.keys, skipped };
  }

  /**
   * The register function's work for one "ECS Task State Change" event (delivered directly by
   * EventBridge or as the body of an SQS message): validate it, and register its task if it is a
   * started one. Once the event is valid, the lease grant (which needs nothing else from it) is sent
   * first and the task is planned while the grant is in flight; a lease that turns out unneeded
   * (duplicate, stale, failed planning) is revoked before returning.
   *
   * @throws {InvalidEventError} for a malformed event (nothing written).
   * @example
   * const outcome = await registrar.registerEvent(event);
   */
  async registerEvent(event: unknown): Promise<RegisterOutcome | NotStarted> {
    const { registry, log } = this.deps;
    // Validate first: a malformed or not-started event must cause no etcd request at all.
    const task = parseTaskStateChange(event).task;
    if (taskPhase(task) !== TaskPhase.Started) {
      const reason = `not a started task (lastStatus ${task.lastStatus}, desiredStatus ${task.desiredStatus}): register only handles RUNNING/RUNNING`;
      log.warn('event ignored', { reason, taskArn: task.taskArn });
      return { action: 'ignored', taskArn: task.taskArn, reason };
    }
    const granted = registry.grantAhead();
    // Let the grant reach the socket first: Node writes HTTP/2 frames once the current turn of
    // the event loop ends, and the planning below would otherwise run before the request leaves.
    await new Promise((resolve) => setImmediate(resolve));
    return this.register(task, WriteSource.Event, undefined, granted);
  }


  private async plan(task: TaskSnapshot, definition: TaskDefinitionInfo): Promise<EndpointPlan> {
    let hostIp: string | undefined;
    if (needsHostIp(definition)) {
      if (!task.containerInstanceArn) throw new MissingNetworkInfo(`${definition.networkMode} networking but the task names no container instance`);
      hostIp = await this.deps.ecs.hostIp(task.clusterArn, task.containerInstanceArn);
    }
    return planEndpoints(task, definition, hostIp, this.reserved, { allowLoopback: this.deps.config.allowLoopbackEndpoints });
  }

  /**
   * Removes a stopping task: tombstone, record and its own endpoint keys in one transaction.
   * Idempotent; never touches another task's key at a reused address.
   */
  deregister(task: TaskRef & { readonly version: number; readonly stoppedAt?: string }): Promise<DeregisterOutcome> {
    return deregisterTask(this.deps.registry, task);
  }

  /**
   * One renew tick: renews the lease of every recorded task, asks ECS about them (100 per
   * DescribeTasks), rewrites, withdraws or removes the tasks ECS says changed, stopped or are gone,
   * then reconciles each served cluster with ListTasks so tasks whose events were lost get
   * registered. If ECS fails for a cluster, nothing of it is removed (fail open).
   * One failing task never stops the run.
   *
   * @param options.dryRun decide everything, write nothing (not even keepalives: lease TTLs are
   *   only read), and list every change the tick would make in `planned`.
   */
  async renew(options: { readonly dryRun?: boolean } = {}): Promise<RenewSummary> {
    const { config, registry, ecs, log } = this.deps;
    const dryRun = options.dryRun ?? false;
    const summary: RenewSummary = {
      dryRun, records: 0, renewed: 0, registered: 0, repaired: 0, removed: 0, withdrawn: 0, failOpen: 0, failed: 0, failures: [], ecsFailures: [], planned: [],
      durationsMs: { records: 0, keepAlive: 0, describe: 0, changes: 0, reconcile: 0, total: 0 },
    };
    const started = performance.now();
    let mark = started;
    const phase = (name: Exclude<keyof RenewSummary['durationsMs'], 'total'>) => {
      const now = performance.now();
      summary.durationsMs[name] = Math.round((now - mark) * 10) / 10;
      mark = now;
    };
    const fail = (taskArn: string, err: unknown) => {
      summary.failed++;
      summary.failures.push({ taskArn, error: errorMessage(err) });
    };
    const { records, invalid } = await registry.listRecords();
    summary.records = records.length;
    for (const bad of invalid) fail(bad.key, `unreadable task record: ${bad.error}`);
    phase('records');

    // Every lease is renewed before ECS is asked anything: ECS is the slow part (its read budget is
    // about 20 requests a second), and a tick cut short after this still leaves the registry alive.
    // A task ECS then reports stopped had its lease renewed once more; it is revoked moments later.
    const leaseIds = records.map((s) => s.lease);
    const kept = dryRun
      ? await probeLeases(this.deps.etcd, leaseIds, config.renewConcurrency)
      : await keepAliveLeases(this.deps.etcd, leaseIds, { inFlight: config.renewConcurrency * 8, timeoutMs: config.etcdTimeoutMs * 2 });
    phase('keepAlive');

    // ECS verification is sliced to the read budget (lib/renew/): this tick describes only its
    // slice; every other record just had its keepalive. Tasks whose lease expired are asked first.
    const served = await this.servedClusters(records);
    const urgent = new Set(records.filter((s) => kept.expired.has(s.lease)).map((s) => s.record.taskArn));
    const verification = await TickVerification.start({ etcd: this.deps.etcd, config, log }, { records, served, urgent, dryRun });
    const recordOf = new Map(records.map((s) => [s.record.taskArn, s]));
    const unverified = new Set(records);

    const work: Work[] = [];
    const failedClusters = new Set<string>();
    for (const unit of verification.describeUnits()) {
      if (unit.kind !== 'describe' || !verification.canStart(unit)) break;
      const stored = unit.taskArns.map((arn) => recordOf.get(arn)!).filter((s) => unverified.delete(s));
      if (stored.length === 0 || failedClusters.has(clusterName(unit.cluster))) {
        for (const s of stored) work.push({ stored: s, action: RenewAction.KeepAlive, failOpen: true });
        verification.done(unit);
        continue;
      }
      const cluster = unit.cluster;
      try {
        const described = await ecs.describeTasks(cluster, stored.map((s) => s.record.taskArn));
        const byArn = new Map(described.tasks.map((t) => [t.taskArn, t]));
        const untrusted = new Map(described.invalid.map((i) => [i.taskArn, i.error]));
        for (const s of stored) {
          const task = byArn.get(s.record.taskArn);
          if (!task && untrusted.has(s.record.taskArn)) {
            // Do not remove on an answer we cannot read: renew it and report.
            fail(s.record.taskArn, untrusted.get(s.record.taskArn));
            work.push({ stored: s, action: RenewAction.KeepAlive, failOpen: true });
            continue;
          }
          work.push({ stored: s, action: decideRenew(s.record, task), described: task });
        }
      } catch (err) {
        if (outOfTime(err)) {
          // No read slot before the deadline: these tasks are left for the next tick, not failed.
          for (const s of stored) unverified.add(s);
          break;
        }
        failedClusters.add(clusterName(cluster));
        summary.ecsFailures.push({ cluster, error: errorMessage(err) });
        log.warn('ECS failed for cluster: renewing its leases without removing anything (fail open)', { cluster, error: errorMessage(err) });
        for (const s of stored) work.push({ stored: s, action: RenewAction.KeepAlive, failOpen: true });
      }
      verification.done(unit);
    }
    // Outside this tick's slice (or left for the deadline): renewed, verified on a later tick.
    for (const s of unverified) work.push({ stored: s, action: RenewAction.KeepAlive });

    phase('describe');

    const limit = pLimit(config.renewConcurrency);
    /** Applies one change (or only lists it, in a dry run); `apply` says whether it counted. */
    const change = (taskArn: string, action: PlannedChange['action'], counter: 'registered' | 'withdrawn' | 'removed', reason: string, apply: () => Promise<boolean>) =>
      limit(async () => {
        try {
          if (dryRun) summary.planned.push({ taskArn, action, reason });
          if (dryRun || (await apply())) summary[counter]++;
        } catch (err) {
          fail(taskArn, err);
        }
      });
    const rewrite = (w: Work, reason: string) =>
      change(w.stored.record.taskArn, 'register', 'registered', reason, async () => {
        const outcome = await this.register(w.described!, WriteSource.Ecs, { record: w.stored });
        return outcome.action !== 'ignored';
      });

    const changes: Promise<void>[] = [];
    for (const w of work.filter((w) => w.action === RenewAction.KeepAlive)) {
      const lease = w.stored.lease;
      if (kept.alive.has(lease)) {
        if (w.failOpen) summary.failOpen++;
        else summary.renewed++;
      } else if (kept.expired.has(lease) && w.described && taskPhase(w.described) === TaskPhase.Started) {
        changes.push(rewrite(w, 'lease expired: publish again'));
      } else if (kept.expired.has(lease)) {
        fail(w.stored.record.taskArn, 'lease expired and ECS could not be asked about the task; reconcile will restore it');
      } else {
        fail(w.stored.record.taskArn, kept.failed.get(lease) ?? 'keepalive failed');
      }
    }

    for (const w of work) {
      const r = w.stored.record;
      if (w.action === RenewAction.Register) changes.push(rewrite(w, `ECS says ${describeState(w.described!)}; record is ${r.state} at version ${r.version}`));
      else if (w.action === RenewAction.Withdraw)
        changes.push(
          change(r.taskArn, 'withdraw', 'withdrawn', 'ECS says UNHEALTHY', async () => {
            if (await registry.withdrawTask(w.stored, w.described!.version)) return true;
            fail(r.taskArn, 'record changed while withdrawing; next tick decides again');
            return false;
          }),
        );
      else if (w.action === RenewAction.Deregister)
        changes.push(
          change(r.taskArn, 'deregister', 'removed', w.described ? `ECS says ${describeState(w.described)}` : 'ECS reports the task MISSING', async () => {
            await registry.stopTask({ taskArn: r.taskArn, clusterArn: r.clusterArn, ...refParts(w.stored.key) }, w.described?.version ?? r.version, new Date().toISOString());
            return true;
          }),
        );
    }
    await Promise.all(changes);
    phase('changes');

    await this.reconcile(records, served, failedClusters, summary, fail, dryRun, verification);
    phase('reconcile');
    summary.verification = await verification.finish(log);
    if (summary.verification.left.tasks + summary.verification.left.clusters > 0)
      log.warn('renew stopped starting ECS work for its deadline: the rest of its slice is left for the next tick', { left: summary.verification.left });
    summary.durationsMs.total = Math.round((performance.now() - started) * 10) / 10;
    return summary;
  }

  /** Clusters renew reconciles with ListTasks, by name: `CLUSTERS`, or every cluster the registrar knows. */
  private async servedClusters(records: readonly StoredRecord[]): Promise<Map<string, string>> {
    const { config, registry } = this.deps;
    const clusters = new Map(config.clusters.map((c) => [clusterName(c), c]));
    if (clusters.size === 0) {
      try {
        for (const arn of await registry.knownClusters()) clusters.set(clusterName(arn), arn);
      } catch (err) {
        // The leases are renewed already; a tick that cannot read the cluster list still verifies
        // the clusters of its records.
        this.deps.log.warn('renew could not read the known clusters: reconciling those of the records only', { error: errorMessage(err) });
      }
      for (const s of records) clusters.set(clusterName(s.record.clusterArn), s.record.clusterArn);
    }
    return clusters;
  }

  /** Registers running tasks of the clusters listed this tick that have no record (lost events). */
  private async reconcile(
    records: readonly StoredRecord[],
    clusters: ReadonlyMap<string, string>,
    failedClusters: ReadonlySet<string>,
    summary: RenewSummary,
    fail: (taskArn: string, err: unknown) => void,
    dryRun: boolean,
    verification: TickVerification,
  ): Promise<void> {
    const { config, registry, ecs, log } = this.deps;
    const configured = new Set(config.clusters.map(clusterName));
    const recorded = new Set(records.map((s) => s.record.taskArn));
    const limit = pLimit(config.renewConcurrency);
    for (const [name, cluster] of clusters) {
      const unit = verification.listUnit(name);
      if (!unit || !verification.canStart(unit)) continue;
      if (failedClusters.has(name)) {
        verification.done(unit);
        continue;
      }
      let unrecorded: string[];
      let described;
      try {
        const running = await ecs.listRunningTasks(cluster);
        verification.done(unit);
        verification.listed(name, running.length);
        unrecorded = running.filter((arn) => !recorded.has(arn));
        if (unrecorded.length === 0) continue;
        described = await ecs.describeTasks(cluster, unrecorded);
      } catch (err) {
        if (outOfTime(err)) continue; // left for the next tick
        verification.done(unit);
        summary.ecsFailures.push({ cluster, error: errorMessage(err) });
        log.warn('ECS failed for cluster during reconcile: nothing repaired there this tick', { cluster, error: errorMessage(err) });
        if (!dryRun && !configured.has(name) && err instanceof DependencyError && (err.cause as Error | undefined)?.name === 'ClusterNotFoundException')
          await registry.forgetCluster(name);
        continue;
      }
      for (const bad of described.invalid) fail(bad.taskArn, bad.error);
      await Promise.all(
        described.tasks
          .filter((t) => taskPhase(t) === TaskPhase.Started)
          .map((task) =>
            limit(async () => {
              try {
                if (dryRun) {
                  const { desired } = await this.prepare(task, WriteSource.Ecs);
                  summary.planned.push({ taskArn: task.taskArn, action: 'repair', reason: `running in ECS without a record: would be written ${desired.state} with ${desired.entries.length} keys` });
                  summary.repaired++;
                  return;
                }
                const outcome = await this.register(task, WriteSource.Ecs);
                if (outcome.action !== 'ignored') summary.repaired++;
              } catch (err) {
                if (err instanceof InvalidEventError) log.warn('task cannot be registered', { taskArn: task.taskArn, error: err.message });
                fail(task.taskArn, err);
              }
            }),
          ),
      );
    }
  }
}

type Work = { readonly stored: StoredRecord; readonly action: RenewAction; readonly described?: TaskSnapshot; readonly failOpen?: boolean };

/** An ECS read refused because no read slot was left before the invocation's deadline. */
const outOfTime = (err: unknown) => err instanceof DependencyError && err.cause instanceof DeadlineError;

function describeState(task: TaskSnapshot): string {
  return `${task.lastStatus}/${task.desiredStatus}${task.healthStatus ? ` ${task.healthStatus}` : ''} at version ${task.version}`;
}

function refParts(recordKey: string): { clusterName: string; taskId: string } {
  const parts = recordKey.split('/');
  return { clusterName: parts[parts.length - 2]!, taskId: parts[parts.length - 1]! };
}
