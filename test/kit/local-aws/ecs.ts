/**
 * The local ECS: DescribeTasks, ListTasks, DescribeClusters, DescribeServices,
 * DescribeTaskDefinition and DescribeContainerInstances, answered from state the test, demo or
 * benchmark controls, as the ECS of one account and region (or of any). Its limits (100 tasks per
 * DescribeTasks, 10 services per DescribeServices, pages of 100) are ECS's own, written here apart
 * from `lib/ecs/limits.ts` so a wrong constant there fails against this endpoint.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallGate, Json, Send } from './endpoint';

const TIME_FIELDS = [
  'createdAt',
  'startedAt',
  'stoppedAt',
  'stoppingAt',
  'executionStoppedAt',
  'pullStartedAt',
  'pullStoppedAt',
  'connectivityAt',
  'updatedAt',
];

/** Turns an event `detail` into the task object DescribeTasks returns (epoch times, ENI type name). */
export function describedFromDetail(detail: Json): Json {
  const task: Json = { ...detail };
  for (const field of TIME_FIELDS)
    if (typeof task[field] === 'string') task[field] = Date.parse(task[field] as string) / 1000;
  if (Array.isArray(task.attachments))
    task.attachments = (task.attachments as Json[]).map((a) =>
      a.type === 'eni' ? { ...a, type: 'ElasticNetworkInterface' } : a,
    );
  return task;
}

/**
 * The RUNNING/RUNNING state (version 3) of a task from the `detail` of its stopped event, e.g. the
 * health-checked sample `fargate-stopped-essential-container-exited-fivexl`.
 */
export function runningFromStopped(detail: Json, changes: Json = {}): Json {
  return {
    ...structuredClone(detail),
    version: 3,
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    stoppedAt: undefined,
    stopCode: undefined,
    containers: (detail.containers as Json[]).map((c) => ({ ...c, lastStatus: 'RUNNING', exitCode: undefined })),
    ...changes,
  };
}

/** The task definitions of the sample events (test/fixtures/task-definitions.json). */
export function sampleTaskDefinitions(): Json[] {
  const file = join(import.meta.dirname, '..', '..', 'fixtures', 'task-definitions.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { definitions: Json[] }).definitions;
}

/** The name of a cluster named by ARN or name. */
export const clusterNameOf = (cluster: string) => cluster.split('/').pop()!;

/** An account and region: where an ECS answers. */
export interface Place {
  readonly account: string;
  readonly region: string;
}

/** The ECS state and its answers. */
export class LocalEcs {
  /** Tasks by ARN, in DescribeTasks shape. */
  readonly tasks = new Map<string, Json>();
  /** Task definitions by ARN, in DescribeTaskDefinition shape. */
  readonly taskDefinitions = new Map<string, Json>();
  /** EC2 instance id by container instance ARN. */
  readonly containerInstances = new Map<string, string>();
  /** ECS services (as DescribeServices answers them) by `<cluster name>/<service name>`. */
  readonly services = new Map<string, Json>();
  /** Task ARNs DescribeTasks answers MISSING for (eventual consistency) while ListTasks still lists them. */
  readonly describedMissing = new Set<string>();
  /** Deleted clusters by name, with what DescribeClusters says of them (`INACTIVE`, or `MISSING` once ECS forgot them). */
  readonly deletedClusters = new Map<string, 'INACTIVE' | 'MISSING'>();
  /** Every cluster (as the request named it) ECS was asked about: DescribeTasks, ListTasks, DescribeClusters. */
  readonly clustersAsked = new Set<string>();
  /** ListTasks results being paged through, by the token of their next page. */
  private readonly listings = new Map<string, { readonly arns: readonly string[]; readonly next: number }>();

  /**
   * @param place the account and region cluster ARNs are answered as (DescribeClusters).
   * @param scoped when given, a cluster ARN of another account or region is not found.
   */
  constructor(
    private readonly place: Place,
    private readonly scoped: Place | undefined,
  ) {}

  /** True for a cluster ARN of another account or region than this endpoint's (only when scoped). */
  private elsewhere(cluster: string): boolean {
    const match = /^arn:[^:]+:ecs:([^:]+):(\d{12}):cluster\//.exec(cluster);
    return (
      this.scoped !== undefined &&
      match !== null &&
      (match[1] !== this.scoped.region || match[2] !== this.scoped.account)
    );
  }

  /** Adds or replaces a task from an event's `detail`. */
  putTaskFromDetail(detail: Json): void {
    this.tasks.set(detail.taskArn as string, describedFromDetail(detail));
  }

  /** Changes fields of a known task. */
  updateTask(taskArn: string, changes: Json): void {
    const task = this.tasks.get(taskArn);
    if (!task) throw new Error(`unknown task ${taskArn}`);
    this.tasks.set(taskArn, { ...task, ...changes });
  }

  /** Deletes a cluster and its tasks; DescribeClusters then answers `status`. */
  deleteCluster(cluster: string, status: 'INACTIVE' | 'MISSING'): void {
    const name = clusterNameOf(cluster);
    for (const [arn, task] of this.tasks) if (clusterNameOf(String(task.clusterArn)) === name) this.tasks.delete(arn);
    this.deletedClusters.set(name, status);
  }

  /** Adds or replaces an ECS service of a cluster. */
  putService(cluster: string, service: Json): void {
    this.services.set(`${clusterNameOf(cluster)}/${String(service.serviceName)}`, service);
  }

  /** Answers one ECS call (after counting it and its faults at `gate`). */
  answer(operation: string, input: Json, gate: CallGate, send: Send): void {
    for (const cluster of [input.cluster, ...((input.clusters as unknown[]) ?? [])])
      if (typeof cluster === 'string') this.clustersAsked.add(cluster);
    const fault = gate.enter(operation);
    if (fault)
      return send(fault.status ?? 400, { __type: fault.code, message: fault.message ?? `injected ${fault.code}` });
    if (
      (operation === 'DescribeTasks' || operation === 'ListTasks') &&
      (this.deletedClusters.has(clusterNameOf(String(input.cluster ?? 'default'))) ||
        this.elsewhere(String(input.cluster ?? 'default')))
    )
      return send(400, { __type: 'ClusterNotFoundException', message: 'Cluster not found.' });
    switch (operation) {
      case 'DescribeClusters':
        return send(200, this.describeClusters(input));
      case 'DescribeServices':
        return this.describeServices(input, send);
      case 'DescribeTasks':
        return this.describeTasks(input, send);
      case 'ListTasks':
        return this.listTasks(input, gate.count(operation), send);
      case 'DescribeTaskDefinition': {
        const definition = this.taskDefinitions.get(String(input.taskDefinition));
        if (!definition)
          return send(400, { __type: 'ClientException', message: 'Unable to describe task definition.' });
        return send(200, { taskDefinition: definition });
      }
      case 'DescribeContainerInstances': {
        const arns = (input.containerInstances as string[]) ?? [];
        return send(200, {
          containerInstances: arns
            .filter((a) => this.containerInstances.has(a))
            .map((a) => ({ containerInstanceArn: a, ec2InstanceId: this.containerInstances.get(a) })),
          failures: arns.filter((a) => !this.containerInstances.has(a)).map((arn) => ({ arn, reason: 'MISSING' })),
        });
      }
      default:
        return send(400, {
          __type: 'UnknownOperationException',
          message: `local endpoint does not implement ${operation}`,
        });
    }
  }

  private describeClusters(input: Json): Json {
    const asked = (input.clusters as string[]) ?? ['default'];
    const names = asked.map(clusterNameOf);
    const { account, region } = this.place;
    const arn = (name: string) => `arn:aws:ecs:${region}:${account}:cluster/${name}`;
    const foreign = new Set(asked.filter((c) => this.elsewhere(c)).map(clusterNameOf));
    const deleted = (name: string) => (foreign.has(name) ? 'MISSING' : this.deletedClusters.get(name));
    return {
      clusters: names
        .filter((n) => deleted(n) !== 'MISSING')
        .map((n) => ({ clusterArn: arn(n), clusterName: n, status: deleted(n) ?? 'ACTIVE' })),
      failures: names.filter((n) => deleted(n) === 'MISSING').map((n) => ({ arn: arn(n), reason: 'MISSING' })),
    };
  }

  private describeServices(input: Json, send: Send): void {
    const names = (input.services as string[]) ?? [];
    if (names.length > 10)
      return send(400, { __type: 'InvalidParameterException', message: 'services can have at most 10 items' });
    const cluster = clusterNameOf(String(input.cluster ?? 'default'));
    const key = (name: string) => `${cluster}/${name.split('/').pop()}`;
    return send(200, {
      services: names.filter((n) => this.services.has(key(n))).map((n) => this.services.get(key(n))),
      failures: names.filter((n) => !this.services.has(key(n))).map((n) => ({ arn: n, reason: 'MISSING' })),
    });
  }

  private describeTasks(input: Json, send: Send): void {
    const arns = (input.tasks as string[]) ?? [];
    if (arns.length > 100)
      return send(400, { __type: 'InvalidParameterException', message: 'tasks can have at most 100 items' });
    const cluster = clusterNameOf(String(input.cluster ?? 'default'));
    const tasks: Json[] = [];
    const failures: Json[] = [];
    for (const arn of arns) {
      const task = this.tasks.get(arn);
      if (task && clusterNameOf(String(task.clusterArn)) === cluster && !this.describedMissing.has(arn))
        tasks.push(task);
      else failures.push({ arn, reason: 'MISSING' });
    }
    return send(200, { tasks, failures });
  }

  /** @param call the number of this ListTasks call, which names the next page's token. */
  private listTasks(input: Json, call: number, send: Send): void {
    // The first page lists the cluster's tasks once; later pages read that listing by token,
    // so paging through N tasks costs N, not N²/100 (benchmarks page through 50,000).
    let listing = typeof input.nextToken === 'string' ? this.listings.get(input.nextToken) : undefined;
    if (typeof input.nextToken === 'string' && !listing)
      return send(400, { __type: 'InvalidParameterException', message: 'invalid nextToken' });
    if (typeof input.nextToken === 'string') this.listings.delete(input.nextToken);
    if (!listing) {
      const cluster = clusterNameOf(String(input.cluster ?? 'default'));
      const desired = (input.desiredStatus as string) ?? 'RUNNING';
      const arns = [...this.tasks.values()]
        .filter((t) => clusterNameOf(String(t.clusterArn)) === cluster && t.desiredStatus === desired)
        .map((t) => t.taskArn as string);
      listing = { arns, next: 0 };
    }
    const size = Math.min(Number(input.maxResults ?? 100), 100);
    const end = listing.next + size;
    const nextToken = end < listing.arns.length ? `page-${call}` : undefined;
    if (nextToken) this.listings.set(nextToken, { arns: listing.arns, next: end });
    return send(200, { taskArns: listing.arns.slice(listing.next, end), ...(nextToken ? { nextToken } : {}) });
  }
}
