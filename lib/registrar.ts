/**
 * The register use case: register a started task, from its event or from ECS's answer (renew
 * composes it in `lib/renew/run.ts`; deregistering a stopping task is `lib/deregister.ts`, which
 * needs no ECS client). Each reads what it needs
 * through the ECS reader, decides with the pure functions and writes through the registry;
 * handlers in `functions/` only validate and call these.
 */
import type { TaskAddresses } from './address';
import type { Config } from './config';
import { decideWrite, evaluateHealth, RecordState, targetState, WriteSource } from './decide';
import type { EcsReader } from './ecs/reader';
import type { ServiceDeclaration } from './ecs/service-declaration';
import { parseTaskStateChange } from './ecs/event';
import { TaskPhase, taskPhase, type TaskSnapshot } from './ecs/task';
import { needsHostIp, planEndpoints, type EndpointPlan } from './endpoints';
import type { TaskDefinitionInfo } from './ecs/task-definition';
import { DependencyError, MissingNetworkInfo } from './errors';
import { refOf, type DesiredTask, type Registry, type TaskState } from './etcd/registry';
import { assertServed } from './deployment';
import { endpointKey, endpointValue, recordKey, type EndpointMetadata } from './keys';
import type { PendingFollower } from './follow/follower';
import type { Log } from './log';
import type { NotStarted, RegisterOutcome } from './outcomes';
import { describeState } from './ecs/task';
import type { Etcd3 } from 'etcd3';

/** Dependencies of the {@link Registrar}. */
export interface RegistrarDeps {
  readonly config: Config;
  readonly etcd: Etcd3;
  readonly registry: Registry;
  readonly ecs: EcsReader;
  readonly log: Log;
  /** Follows tasks recorded pending until they are HEALTHY (`FOLLOW_QUEUE_URL`); without it, renew does. */
  readonly follow?: PendingFollower;
}

/** Options of {@link Registrar.register}. */
export interface RegisterOptions {
  /**
   * Where the task comes from: `event` for ECS events (a same-version redelivery is a duplicate),
   * `ecs` for ECS's own answer during renew, `pending-check` for a follow-up or drain check.
   * @default WriteSource.Event
   */
  readonly source?: WriteSource;
  /** What etcd holds about the task, when the caller has just read it (saves the guard a lost race). */
  readonly known?: TaskState;
  /** A lease from {@link Registry.grantAhead} to write under; given back when nothing is written. */
  readonly granted?: Promise<string>;
}

/** Registers and renews tasks. */
export class Registrar {
  private readonly reserved: readonly string[];

  constructor(readonly deps: RegistrarDeps) {
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
  async prepare(
    task: TaskSnapshot,
    source: WriteSource = WriteSource.Event,
  ): Promise<{ desired: DesiredTask; skipped: EndpointPlan['skipped']; ambiguities: EndpointPlan['ambiguities'] }> {
    const { config, ecs } = this.deps;
    const definition = await ecs.taskDefinition(task.taskDefinitionArn);
    let plan: EndpointPlan;
    try {
      plan = await this.plan(task, definition);
    } catch (err) {
      if (!(err instanceof MissingNetworkInfo) || source !== WriteSource.Event) throw err;
      // The event lacked addresses or bindings (older shapes do): ask ECS for the task itself.
      const fresh = (await ecs.describeTasks(task.clusterArn, [task.taskArn])).tasks[0];
      if (!fresh)
        throw new DependencyError('ecs', `task ${task.taskArn}: ${err.message}, and DescribeTasks does not know it`);
      task = fresh.version >= task.version ? fresh : task;
      try {
        plan = await this.plan(task, definition);
      } catch (again) {
        if (again instanceof MissingNetworkInfo)
          throw new DependencyError('ecs', `task ${task.taskArn}: ${again.message}`);
        throw again;
      }
    }
    for (const a of plan.ambiguities)
      this.deps.log.warn(
        `ambiguous gRPC port: task ${task.taskArn} maps several unmarked TCP ports for service ${a.service}; ` +
          `published ${a.chosen} (of ${a.candidates.join(', ')}). Fix: ${a.fix}`,
        { taskArn: task.taskArn, service: a.service, chosen: a.chosen, candidates: a.candidates },
      );
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
        ? plan.endpoints.map((e) => ({
            key: endpointKey(config, task.taskId, e),
            value: endpointValue(config.valueFormat, e, metadata(e.container)),
          }))
        : [];
    return {
      desired: {
        ...refOf(task),
        version: task.version,
        state,
        taskDefinitionArn: task.taskDefinitionArn,
        gatedContainers: plan.gatedContainers,
        startedAt: task.startedAt,
        services: [...new Set(plan.endpoints.map((e) => e.service))],
        ports: plan.chosen,
        entries,
      },
      skipped: plan.skipped,
      ambiguities: plan.ambiguities,
    };
  }

  /**
   * Publishes a started task: works out its endpoints, applies the health gate, and writes its
   * record and keys under one lease in one transaction (stale, duplicate and stopped ignored).
   *
   * @example
   * const outcome = await registrar.register(parseTaskStateChange(event).task);
   */
  async register(task: TaskSnapshot, options: RegisterOptions = {}): Promise<RegisterOutcome> {
    const { source = WriteSource.Event, known, granted } = options;
    if (this.deps.config.dryRun) {
      if (granted) await this.deps.registry.release(granted);
      return this.planRegister(task, source);
    }
    let prepared: Awaited<ReturnType<Registrar['prepare']>>;
    try {
      prepared = await this.prepare(task, source);
    } catch (err) {
      if (granted) await this.deps.registry.release(granted);
      throw err;
    }
    const { desired, skipped } = prepared;
    const ambiguities = prepared.ambiguities.length > 0 ? { ambiguities: prepared.ambiguities } : {};
    const result = await this.deps.registry.writeTask(desired, { source, known, granted });
    if (result.status === 'ignored')
      return { action: 'ignored', taskArn: desired.taskArn, reason: result.reason, keys: [], skipped };
    // One follow-up chain per pending spell: a task already pending is being followed.
    if (desired.state === RecordState.Pending && result.previous !== RecordState.Pending)
      await this.deps.follow?.follow(task, desired.gatedContainers);
    const leftOut = result.leftOut.length > 0 ? { leftOut: result.leftOut } : {};
    return {
      action: desired.state === RecordState.Registered ? 'registered' : desired.state,
      taskArn: desired.taskArn,
      keys: result.keys,
      skipped,
      ...leftOut,
      ...ambiguities,
    };
  }

  /**
   * The register function's work for one "ECS Task State Change" event (delivered directly by
   * EventBridge or as the body of an SQS message): validate it, and register its task if it is a
   * started one. Once the event is valid, the lease grant (which needs nothing else from it) is sent
   * first and the task is planned while the grant is in flight; a lease that turns out unneeded
   * (duplicate, stale, failed planning) is revoked before returning.
   *
   * An event older than `EVENT_CONFIRM_AGE_SECONDS` (a dead-letter replay, a retry a day late) is
   * confirmed with ECS first: its task's tombstone may have expired, so only ECS can say whether the
   * task still runs (see {@link registerConfirmed}).
   *
   * @throws {InvalidEventError} for a malformed event (nothing written).
   * @example
   * const outcome = await registrar.registerEvent(event);
   */
  async registerEvent(event: unknown): Promise<RegisterOutcome | NotStarted> {
    const { registry, log, config } = this.deps;
    // Validate first: a malformed or not-started event must cause no etcd request at all.
    const { task, emittedAt } = parseTaskStateChange(event);
    assertServed(config.deployment, task.clusterArn);
    if (taskPhase(task) !== TaskPhase.Started) {
      const reason =
        `not a started task (lastStatus ${task.lastStatus}, desiredStatus ${task.desiredStatus}): ` +
        'register only handles RUNNING/RUNNING';
      log.warn('event ignored', { reason, taskArn: task.taskArn });
      return { action: 'ignored', taskArn: task.taskArn, reason };
    }
    if (this.deps.config.dryRun) return this.planRegister(task, WriteSource.Event);
    const granted = registry.grantAhead(task);
    // Let the grant reach the socket first: Node writes HTTP/2 frames once the current turn of
    // the event loop ends, and the planning below would otherwise run before the request leaves.
    await new Promise((resolve) => setImmediate(resolve));
    const ageMs = emittedAt === undefined ? undefined : Date.now() - emittedAt;
    if (ageMs === undefined || ageMs > config.eventConfirmAgeSeconds * 1000)
      return this.registerConfirmed(task, ageMs, granted);
    return this.register(task, { source: WriteSource.Event, granted });
  }

  /**
   * Registers the task of an old RUNNING event only if ECS says it still runs, from ECS's current
   * answer. Tombstones outlive EventBridge's retries (24 h) but not a dead-letter queue (14 days),
   * and a stop whose event was lost left none: an old event alone is no evidence the task runs.
   * ECS describing it stopped or stopping, or not knowing it (stopped tasks vanish about an hour
   * after stopping; MISSING from eventual consistency lasts seconds, not the minutes this event is
   * old) means it is ignored with a reason: nothing written, no error. The event is still validated
   * and planned first, so a malformed one is rejected whatever its age.
   */
  private async registerConfirmed(
    task: TaskSnapshot,
    ageMs: number | undefined,
    granted: Promise<string>,
  ): Promise<RegisterOutcome> {
    const { ecs, registry } = this.deps;
    const age =
      ageMs === undefined
        ? 'event without a time'
        : `event ${Math.round(ageMs / 1000)} s old, beyond EVENT_CONFIRM_AGE_SECONDS`;
    let now: TaskSnapshot | undefined;
    try {
      await this.prepare(task, WriteSource.Event);
      const described = await ecs.describeTasks(task.clusterArn, [task.taskArn]);
      now = described.tasks.find((t) => t.taskArn === task.taskArn);
      const untrusted = described.invalid.find((i) => i.taskArn === task.taskArn);
      if (!now && untrusted)
        throw new DependencyError('ecs', `task ${task.taskArn}: cannot confirm an ${age} with ECS: ${untrusted.error}`);
    } catch (err) {
      await registry.release(granted);
      throw err;
    }
    if (now && taskPhase(now) === TaskPhase.Started) return this.register(now, { source: WriteSource.Event, granted });
    await registry.release(granted);
    const reason = now
      ? `${age}, and ECS now says ${describeState(now)}: not registered`
      : `${age}, and ECS does not know the task (MISSING: stopped over an hour ago, or never existed): not registered`;
    this.deps.log.info('old event not confirmed by ECS: ignored', { taskArn: task.taskArn, reason });
    return { action: 'ignored', taskArn: task.taskArn, reason, keys: [] };
  }

  /**
   * What {@link register} would do, logged at INFO and returned, with nothing written (no lease
   * grant, no transaction, no revoke): for `DRY_RUN`. The same decision as the write's own
   * (stale, duplicate, stopped), from the record and tombstone as they are now.
   */
  private async planRegister(task: TaskSnapshot, source: WriteSource): Promise<RegisterOutcome> {
    const { registry, config, log } = this.deps;
    const current = await registry.readTask(task);
    const decision = decideWrite(
      { version: task.version, source },
      { record: current.record?.record, tombstone: current.tombstone?.tombstone },
    );
    if (!decision.write) {
      log.info('dry run: register would change nothing', { taskArn: task.taskArn, reason: decision.reason });
      return { action: 'ignored', taskArn: task.taskArn, reason: decision.reason, keys: [], dryRun: true };
    }
    const { desired, skipped } = await this.prepare(task, source);
    const keys = desired.entries.map((e) => e.key);
    log.info('dry run: register would write the task on a new lease', {
      taskArn: task.taskArn,
      state: desired.state,
      version: desired.version,
      leaseTtlSeconds: config.leaseTtlSeconds,
      put: desired.entries,
      putRecord: recordKey(config.statePrefix, task.clusterArn, task.taskId),
      deleteKeys: current.record ? current.record.record.keys.filter((k) => !keys.includes(k)) : [],
      revokeLease: current.record?.lease,
      skipped,
    });
    return {
      action: desired.state === RecordState.Registered ? 'registered' : desired.state,
      taskArn: task.taskArn,
      keys,
      skipped,
      dryRun: true,
    };
  }

  private async plan(task: TaskSnapshot, definition: TaskDefinitionInfo): Promise<EndpointPlan> {
    let host: TaskAddresses | undefined;
    if (needsHostIp(definition)) {
      if (!task.containerInstanceArn)
        throw new MissingNetworkInfo(`${definition.networkMode} networking but the task names no container instance`);
      host = await this.deps.ecs.hostAddresses(task.clusterArn, task.containerInstanceArn);
    }
    const options = {
      allowLoopback: this.deps.config.allowLoopbackEndpoints,
      addressFamily: this.deps.config.endpointAddressFamily,
    };
    const plan = planEndpoints(task, definition, host, this.reserved, options);
    // Only a task that leaves its service's port to a guess costs a DescribeServices (cached).
    const service = task.group?.startsWith('service:') ? task.group.slice('service:'.length) : undefined;
    if (!service || !plan.ambiguities.some((a) => a.service === service)) return plan;
    const declared = await this.serviceDeclaration(task, service);
    return declared ? planEndpoints(task, definition, host, this.reserved, { ...options, declared }) : plan;
  }

  /**
   * The ECS service's declaration, or undefined when ECS does not know the service or the role may
   * not read it (AccessDenied: logged, and the ambiguity rule decides). Other failures are thrown:
   * a declaration that comes and goes would move the endpoints back and forth.
   */
  private async serviceDeclaration(task: TaskSnapshot, service: string): Promise<ServiceDeclaration | undefined> {
    try {
      return await this.deps.ecs.serviceDeclaration(task.clusterArn, service);
    } catch (err) {
      if (!(err instanceof DependencyError) || (err.cause as Error | undefined)?.name !== 'AccessDeniedException')
        throw err;
      this.deps.log.warn(
        `ecs:DescribeServices denied: the port ECS service ${service} declares is not read; grant it to the role`,
        { taskArn: task.taskArn, error: err.message },
      );
      return undefined;
    }
  }
}
