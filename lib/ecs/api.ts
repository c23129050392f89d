/**
 * ECS and EC2 reads. Clients are created lazily once per process; endpoint, region, retries and
 * credentials come from the SDK's own configuration (`AWS_REGION`, `AWS_ENDPOINT_URL_ECS`,
 * `AWS_ENDPOINT_URL_EC2`, `AWS_MAX_ATTEMPTS`, ...), never overridden here. Every HTTP request
 * (the SDK's retries included) first takes a slot of the read budget ({@link ReadBudget}), so the
 * process never reads faster than `ECS_MAX_READS_PER_SECOND`. Throttling is retried by the SDK and
 * then, a few times more, here with backoff while the deadline allows; what still fails surfaces
 * as a {@link DependencyError}.
 */
import {
  DescribeClustersCommand,
  DescribeContainerInstancesCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
} from '@aws-sdk/client-ecs';
import { DeadlineError, DependencyError, errorMessage } from '../errors';
import { clusterNameOf } from './arn';
import { isThrottling, throttleBackoffMs, type ReadBudget } from './budget';
import { snapshotFromDescribedTask } from './event';
import type { TaskSnapshot } from './task';
import type { ClusterStatus, DescribedTasks, EcsCallCounts, EcsReader, InstanceAddresses } from './reader';
import { toServiceDeclaration, type ServiceDeclaration } from './service-declaration';
import { toTaskDefinitionInfo, type TaskDefinitionInfo } from './task-definition';
import {
  DESCRIBE_CLUSTERS_BATCH,
  DESCRIBE_SERVICES_BATCH,
  DESCRIBE_TASKS_BATCH,
  HOST_LOOKUP_BATCH,
  LIST_TASKS_PAGE,
} from './limits';

/**
 * How long a service's declaration is reused. UpdateService can change load balancers and Service
 * Connect; a port chosen from a stale declaration is corrected within this time.
 */
export const SERVICE_DECLARATION_TTL_MS = 5 * 60_000;

/** Retries after the SDK's own attempts ended in throttling (each after a backoff). */
const THROTTLE_RETRIES = 2;
/** How long every read of the process waits after a throttling answer. */
const THROTTLE_PAUSE_MS = 1000;

/** Options of an {@link AwsEcsReader}. */
export interface AwsEcsReaderOptions {
  /** Every request waits for a slot of this budget. @default none: unpaced */
  readonly budget?: ReadBudget;
  /**
   * The time (ms since epoch) after which no request starts and no backoff is waited out: the
   * invocation's deadline. Read at each request. @default () => undefined
   */
  readonly deadline?: () => number | undefined;
  /** Jitter source of the throttling backoff. @default Math.random */
  readonly random?: () => number;
  /**
   * Loads the EC2 client's lookup, for the host addresses of bridge and host tasks ({@link loadEc2}).
   * Passed in rather than imported here so a function that needs no EC2 ships without it.
   * @default none: host lookups fail with a DependencyError
   */
  readonly ec2?: Ec2Loader;
}

/** Loads `./ec2` (see {@link AwsEcsReaderOptions.ec2}). */
export type Ec2Loader = () => Promise<typeof import('./ec2')>;

/** The structural part of an SDK client the read budget hooks into. */
interface WithMiddleware {
  readonly middlewareStack: {
    add(
      middleware: (next: (args: any) => Promise<any>) => (args: any) => Promise<any>,
      options: { step: 'finalizeRequest'; priority: 'low'; name: string },
    ): void;
  };
}

/** A cache that forgets its oldest entries past `max`, and forgets failures at once. */
class PromiseCache<T> {
  private readonly entries = new Map<string, Promise<T>>();
  constructor(private readonly max: number) {}
  get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit) return hit;
    const value = load();
    this.entries.set(key, value);
    value.catch(() => this.entries.delete(key));
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }
}

function wrap(dependency: 'ecs' | 'ec2', what: string, err: unknown): DependencyError {
  const name = err instanceof Error ? err.name : 'Error';
  return new DependencyError(dependency, `${what} failed: ${name}: ${errorMessage(err)}`, { cause: err });
}

type Ec2Lookup = (instanceIds: readonly string[]) => Promise<Map<string, InstanceAddresses>>;

/** A lookup waiting for the next batch. */
interface Waiter<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}
type HostWaiter = Waiter<InstanceAddresses>;

/** {@link EcsReader} over the AWS SDK. */
export class AwsEcsReader implements EcsReader {
  /** API calls made by this reader so far. */
  readonly calls: EcsCallCounts = {
    describeTasks: 0,
    listTasks: 0,
    describeTaskDefinition: 0,
    describeContainerInstances: 0,
    describeInstances: 0,
    describeClusters: 0,
    describeServices: 0,
    throttled: 0,
  };
  private readonly definitions = new PromiseCache<TaskDefinitionInfo>(1000);
  private readonly hostIps = new PromiseCache<InstanceAddresses>(10000);
  private readonly declarations = new Map<string, { at: number; value: Promise<ServiceDeclaration | undefined> }>();
  /** Declarations not asked for yet, by cluster then service. */
  private serviceQueue = new Map<string, Map<string, Waiter<ServiceDeclaration | undefined>>>();
  /** Host lookups not sent yet, by cluster then container instance ARN. */
  private hostQueue = new Map<string, Map<string, HostWaiter>>();
  private ec2?: Promise<Ec2Lookup>;
  private readonly deadline: () => number | undefined;
  private readonly random: () => number;

  constructor(
    private readonly ecs: ECSClient = new ECSClient({}),
    private readonly options: AwsEcsReaderOptions = {},
  ) {
    this.deadline = options.deadline ?? (() => undefined);
    this.random = options.random ?? Math.random;
    this.pace(ecs);
  }

  /**
   * Makes every HTTP request of `client` wait for a budget slot (the middleware sits below the
   * SDK's retry middleware, so each retry is paced too) and counts throttling answers, after which
   * every read of the process pauses.
   */
  private pace(client: WithMiddleware): void {
    const { budget } = this.options;
    client.middlewareStack.add(
      (next) => async (args) => {
        if (budget && !(await budget.take({ deadline: this.deadline() })))
          throw new DeadlineError('no ECS read slot left before the deadline');
        try {
          return await next(args);
        } catch (err) {
          if (isThrottling(err)) {
            this.calls.throttled++;
            budget?.pause(THROTTLE_PAUSE_MS);
          }
          throw err;
        }
      },
      { step: 'finalizeRequest', priority: 'low', name: 'ecsReadBudget' },
    );
  }

  /** Sends a read; throttling that outlasts the SDK's retries is retried with backoff while the deadline allows. */
  private async send<T>(dependency: 'ecs' | 'ec2', what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (isThrottling(err) && attempt < THROTTLE_RETRIES) {
          const delay = throttleBackoffMs(attempt, this.random);
          const deadline = this.deadline();
          if (deadline === undefined || Date.now() + delay < deadline) {
            await new Promise((resolve) => setTimeout(resolve, delay));
            continue;
          }
        }
        throw wrap(dependency, what, err);
      }
    }
  }

  taskDefinition(arn: string): Promise<TaskDefinitionInfo> {
    return this.definitions.get(arn, async () => {
      this.calls.describeTaskDefinition++;
      const out = await this.send('ecs', `DescribeTaskDefinition ${arn}`, () =>
        this.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn })),
      );
      if (!out.taskDefinition)
        throw wrap('ecs', `DescribeTaskDefinition ${arn}`, new Error('no taskDefinition in the answer'));
      try {
        return toTaskDefinitionInfo(out.taskDefinition);
      } catch (err) {
        throw wrap('ecs', `DescribeTaskDefinition ${arn}`, err);
      }
    });
  }

  async describeTasks(cluster: string, taskArns: readonly string[]): Promise<DescribedTasks> {
    const tasks: TaskSnapshot[] = [];
    const missing: string[] = [];
    const invalid: { taskArn: string; error: string }[] = [];
    for (let i = 0; i < taskArns.length; i += DESCRIBE_TASKS_BATCH) {
      const batch = taskArns.slice(i, i + DESCRIBE_TASKS_BATCH);
      this.calls.describeTasks++;
      const out = await this.send('ecs', `DescribeTasks in ${cluster}`, () =>
        this.ecs.send(new DescribeTasksCommand({ cluster, tasks: [...batch] })),
      );
      for (const task of out.tasks ?? []) {
        try {
          tasks.push(snapshotFromDescribedTask(task));
        } catch (err) {
          invalid.push({ taskArn: task.taskArn ?? '?', error: errorMessage(err) });
        }
      }
      for (const failure of out.failures ?? []) {
        if (failure.reason === 'MISSING' && failure.arn) missing.push(failure.arn);
        else
          invalid.push({
            taskArn: failure.arn ?? '?',
            error: `DescribeTasks failure: ${failure.reason ?? '?'} ${failure.detail ?? ''}`.trim(),
          });
      }
    }
    return { tasks, missing, invalid };
  }

  async listRunningTasks(cluster: string, options: { readonly until?: number } = {}): Promise<string[]> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      // A cluster too large to list before the caller's stop time is given up on between pages,
      // so the time after it (renew's writes) is never spent on it.
      if (options.until !== undefined && Date.now() >= options.until)
        throw new DependencyError('ecs', `ListTasks in ${cluster} stopped after ${arns.length} tasks: out of time`, {
          cause: new DeadlineError(`ListTasks in ${cluster} did not finish before its stop time`),
        });
      this.calls.listTasks++;
      const token = nextToken;
      const out = await this.send('ecs', `ListTasks in ${cluster}`, () =>
        this.ecs.send(
          new ListTasksCommand({ cluster, desiredStatus: 'RUNNING', maxResults: LIST_TASKS_PAGE, nextToken: token }),
        ),
      );
      arns.push(...(out.taskArns ?? []));
      nextToken = out.nextToken;
    } while (nextToken);
    return arns;
  }

  async describeClusters(clusters: readonly string[]): Promise<ReadonlyMap<string, ClusterStatus>> {
    const statuses = new Map<string, ClusterStatus>();
    for (let i = 0; i < clusters.length; i += DESCRIBE_CLUSTERS_BATCH) {
      const batch = clusters.slice(i, i + DESCRIBE_CLUSTERS_BATCH);
      this.calls.describeClusters++;
      const out = await this.send('ecs', `DescribeClusters ${batch.join(', ')}`, () =>
        this.ecs.send(new DescribeClustersCommand({ clusters: [...batch] })),
      );
      // ECS answers with full ARNs whatever was asked: match by cluster name.
      const byName = new Map<string, ClusterStatus>();
      for (const c of out.clusters ?? [])
        if (c.clusterArn) byName.set(clusterNameOf(c.clusterArn), c.status ?? 'ACTIVE');
      for (const f of out.failures ?? []) if (f.arn && f.reason) byName.set(clusterNameOf(f.arn), f.reason);
      for (const cluster of batch) {
        const status = byName.get(clusterNameOf(cluster));
        if (status !== undefined) statuses.set(cluster, status);
      }
    }
    return statuses;
  }

  serviceDeclaration(cluster: string, service: string): Promise<ServiceDeclaration | undefined> {
    const key = `${clusterNameOf(cluster)}/${service}`;
    const hit = this.declarations.get(key);
    if (hit && Date.now() - hit.at < SERVICE_DECLARATION_TTL_MS) return hit.value;
    const value = new Promise<ServiceDeclaration | undefined>((resolve, reject) => {
      if (this.serviceQueue.size === 0) setImmediate(() => this.flushServiceLookups());
      let queued = this.serviceQueue.get(cluster);
      if (!queued) this.serviceQueue.set(cluster, (queued = new Map()));
      queued.set(service, { resolve, reject });
    });
    this.declarations.set(key, { at: Date.now(), value });
    value.catch(() => this.declarations.delete(key));
    if (this.declarations.size > 1000) this.declarations.delete(this.declarations.keys().next().value!);
    return value;
  }

  /** Sends the queued service lookups, 10 services per DescribeServices. */
  private flushServiceLookups(): void {
    const queue = this.serviceQueue;
    this.serviceQueue = new Map();
    for (const [cluster, waiters] of queue) {
      const entries = [...waiters];
      for (let i = 0; i < entries.length; i += DESCRIBE_SERVICES_BATCH)
        void this.describeServices(cluster, entries.slice(i, i + DESCRIBE_SERVICES_BATCH));
    }
  }

  private async describeServices(
    cluster: string,
    waiters: readonly (readonly [string, Waiter<ServiceDeclaration | undefined>])[],
  ): Promise<void> {
    try {
      this.calls.describeServices++;
      const names = waiters.map(([name]) => name);
      const out = await this.send('ecs', `DescribeServices ${names.join(', ')} in ${cluster}`, () =>
        this.ecs.send(new DescribeServicesCommand({ cluster, services: names })),
      );
      const byName = new Map((out.services ?? []).map((s) => [s.serviceName, toServiceDeclaration(s)]));
      for (const [name, waiter] of waiters) waiter.resolve(byName.get(name));
    } catch (err) {
      for (const [, waiter] of waiters) waiter.reject(err);
    }
  }

  async hostIp(cluster: string, containerInstanceArn: string): Promise<string> {
    const { ipv4, ipv6 } = await this.hostAddresses(cluster, containerInstanceArn);
    if (ipv4) return ipv4;
    throw new DependencyError(
      'ec2',
      `container instance ${containerInstanceArn} has no private IPv4 address (IPv6 ${ipv6})`,
    );
  }

  hostAddresses(cluster: string, containerInstanceArn: string): Promise<InstanceAddresses> {
    return this.hostIps.get(
      containerInstanceArn,
      () =>
        new Promise<InstanceAddresses>((resolve, reject) => {
          if (this.hostQueue.size === 0) setImmediate(() => this.flushHostLookups());
          let queued = this.hostQueue.get(cluster);
          if (!queued) this.hostQueue.set(cluster, (queued = new Map()));
          queued.set(containerInstanceArn, { resolve, reject });
        }),
    );
  }

  /** Sends the queued host lookups, 100 container instances per batch. */
  private flushHostLookups(): void {
    const queue = this.hostQueue;
    this.hostQueue = new Map();
    for (const [cluster, waiters] of queue) {
      const entries = [...waiters];
      for (let i = 0; i < entries.length; i += HOST_LOOKUP_BATCH)
        void this.lookUpHosts(cluster, entries.slice(i, i + HOST_LOOKUP_BATCH));
    }
  }

  /** One DescribeContainerInstances and one DescribeInstances for up to 100 container instances. */
  private async lookUpHosts(cluster: string, waiters: readonly (readonly [string, HostWaiter])[]): Promise<void> {
    const arns = waiters.map(([arn]) => arn);
    const load = this.options.ec2;
    try {
      // Functions that never publish a bridge or host task (deregister) are built without the EC2
      // client: they are not given a loader, so the lookup says so before any call.
      if (!load)
        throw new DependencyError(
          'ec2',
          `EC2 lookups are not available in this function, so the host address of ${arns.join(', ')} is unknown; ` +
            'the follow-up or renew publishes the task',
        );
      this.calls.describeContainerInstances++;
      const described = await this.send('ecs', `DescribeContainerInstances in ${cluster}`, () =>
        this.ecs.send(new DescribeContainerInstancesCommand({ cluster, containerInstances: arns })),
      );
      const instanceOf = new Map(
        (described.containerInstances ?? []).map((c) => [c.containerInstanceArn, c.ec2InstanceId]),
      );
      const instanceIds = [...new Set([...instanceOf.values()].filter((id): id is string => Boolean(id)))];
      let ips = new Map<string, InstanceAddresses>();
      if (instanceIds.length > 0) {
        this.calls.describeInstances++;
        this.ec2 ??= load().then((m) => m.ec2PrivateIpLookup((client) => this.pace(client)));
        const lookup = await this.ec2;
        ips = await this.send('ec2', `DescribeInstances ${instanceIds.join(',')}`, () => lookup(instanceIds));
      }
      for (const [arn, waiter] of waiters) {
        const instanceId = instanceOf.get(arn);
        const ip = instanceId ? ips.get(instanceId) : undefined;
        if (ip) waiter.resolve(ip);
        else if (!instanceId)
          waiter.reject(new DependencyError('ecs', `container instance ${arn} has no EC2 instance id`));
        else
          waiter.reject(
            new DependencyError(
              'ec2',
              `DescribeInstances ${instanceId} failed: instance ${instanceId} has no private IP`,
            ),
          );
      }
    } catch (err) {
      for (const [, waiter] of waiters) waiter.reject(err);
    }
  }
}
