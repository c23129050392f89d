/**
 * ECS and EC2 reads. Clients are created lazily once per process; endpoint, region, retries and
 * credentials come from the SDK's own configuration (`AWS_REGION`, `AWS_ENDPOINT_URL_ECS`,
 * `AWS_ENDPOINT_URL_EC2`, `AWS_MAX_ATTEMPTS`, ...), never overridden here. Throttling is retried
 * by the SDK; what still fails surfaces as a {@link DependencyError}.
 */
import {
  DescribeClustersCommand,
  DescribeContainerInstancesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
} from '@aws-sdk/client-ecs';
import { DependencyError, errorMessage } from '../errors';
import { snapshotFromDescribedTask, type TaskSnapshot } from './event';
import { toTaskDefinitionInfo, type TaskDefinitionInfo } from './task-definition';

/** `DescribeTasks` takes at most this many tasks per call. */
export const DESCRIBE_TASKS_BATCH = 100;

/** What `DescribeTasks` said about a batch of tasks. */
export interface DescribedTasks {
  readonly tasks: readonly TaskSnapshot[];
  /** Task ARNs ECS reported as MISSING (long stopped or never existed). */
  readonly missing: readonly string[];
  /** Task ARNs ECS answered for with data this code refuses to trust, with why. */
  readonly invalid: readonly { readonly taskArn: string; readonly error: string }[];
}

/**
 * What `DescribeClusters` says of a cluster: `ACTIVE` (or another live status such as
 * `PROVISIONING`), `INACTIVE` (deleted), or `MISSING` (ECS does not know it).
 */
export type ClusterStatus = string;

/** True when a cluster with this {@link ClusterStatus} no longer exists. */
export const clusterGone = (status: ClusterStatus | undefined): boolean => status === 'INACTIVE' || status === 'MISSING';

/** True for an ECS read that failed because ECS does not know the cluster (a hint, not proof: confirm with `describeClusters`). */
export function isClusterNotFound(err: unknown): boolean {
  return err instanceof DependencyError && (err.cause as Error | undefined)?.name === 'ClusterNotFoundException';
}

const clusterNameOf = (cluster: string) => cluster.split('/').pop()!;

/** The ECS/EC2 reads registration and renew need. */
export interface EcsReader {
  /** A task definition revision (cached by ARN: revisions are immutable). */
  taskDefinition(arn: string): Promise<TaskDefinitionInfo>;
  /** Describes tasks of one cluster, 100 per call. */
  describeTasks(cluster: string, taskArns: readonly string[]): Promise<DescribedTasks>;
  /** Every task ARN of a cluster with desiredStatus RUNNING (all pages). */
  listRunningTasks(cluster: string): Promise<string[]>;
  /** Private IPv4 address of a container instance's EC2 instance (cached). */
  hostIp(cluster: string, containerInstanceArn: string): Promise<string>;
  /** The status of each cluster (ARN or name, as given), 100 per call; `MISSING` for one ECS does not know. */
  describeClusters(clusters: readonly string[]): Promise<ReadonlyMap<string, ClusterStatus>>;
}

/** Counts of API calls made, for the renew summary and benchmarks. */
export interface EcsCallCounts {
  describeTasks: number;
  listTasks: number;
  describeTaskDefinition: number;
  describeContainerInstances: number;
  describeInstances: number;
  describeClusters: number;
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

/** Loads the EC2 client (only bridge and host tasks need it). */
async function loadEc2(): Promise<(instanceId: string) => Promise<string | undefined>> {
  return (await import('./ec2')).ec2PrivateIpLookup();
}

/** {@link EcsReader} over the AWS SDK. */
export class AwsEcsReader implements EcsReader {
  /** API calls made by this reader so far. */
  readonly calls: EcsCallCounts = { describeTasks: 0, listTasks: 0, describeTaskDefinition: 0, describeContainerInstances: 0, describeInstances: 0, describeClusters: 0 };
  private readonly definitions = new PromiseCache<TaskDefinitionInfo>(1000);
  private readonly hostIps = new PromiseCache<string>(10000);
  private ec2?: Promise<(instanceId: string) => Promise<string | undefined>>;

  constructor(private readonly ecs: ECSClient = new ECSClient({})) {}

  taskDefinition(arn: string): Promise<TaskDefinitionInfo> {
    return this.definitions.get(arn, async () => {
      this.calls.describeTaskDefinition++;
      try {
        const out = await this.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }));
        if (!out.taskDefinition) throw new Error('no taskDefinition in the answer');
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
      let out;
      try {
        out = await this.ecs.send(new DescribeTasksCommand({ cluster, tasks: [...batch] }));
      } catch (err) {
        throw wrap('ecs', `DescribeTasks in ${cluster}`, err);
      }
      for (const task of out.tasks ?? []) {
        try {
          tasks.push(snapshotFromDescribedTask(task));
        } catch (err) {
          invalid.push({ taskArn: task.taskArn ?? '?', error: errorMessage(err) });
        }
      }
      for (const failure of out.failures ?? []) {
        if (failure.reason === 'MISSING' && failure.arn) missing.push(failure.arn);
        else invalid.push({ taskArn: failure.arn ?? '?', error: `DescribeTasks failure: ${failure.reason ?? '?'} ${failure.detail ?? ''}`.trim() });
      }
    }
    return { tasks, missing, invalid };
  }

  async listRunningTasks(cluster: string): Promise<string[]> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      this.calls.listTasks++;
      let out;
      try {
        out = await this.ecs.send(new ListTasksCommand({ cluster, desiredStatus: 'RUNNING', maxResults: 100, nextToken }));
      } catch (err) {
        throw wrap('ecs', `ListTasks in ${cluster}`, err);
      }
      arns.push(...(out.taskArns ?? []));
      nextToken = out.nextToken;
    } while (nextToken);
    return arns;
  }

  async describeClusters(clusters: readonly string[]): Promise<ReadonlyMap<string, ClusterStatus>> {
    const statuses = new Map<string, ClusterStatus>();
    for (let i = 0; i < clusters.length; i += DESCRIBE_TASKS_BATCH) {
      const batch = clusters.slice(i, i + DESCRIBE_TASKS_BATCH);
      this.calls.describeClusters++;
      let out;
      try {
        out = await this.ecs.send(new DescribeClustersCommand({ clusters: [...batch] }));
      } catch (err) {
        throw wrap('ecs', `DescribeClusters ${batch.join(', ')}`, err);
      }
      // ECS answers with full ARNs whatever was asked: match by cluster name.
      const byName = new Map<string, ClusterStatus>();
      for (const c of out.clusters ?? []) if (c.clusterArn) byName.set(clusterNameOf(c.clusterArn), c.status ?? 'ACTIVE');
      for (const f of out.failures ?? []) if (f.arn && f.reason) byName.set(clusterNameOf(f.arn), f.reason);
      for (const cluster of batch) {
        const status = byName.get(clusterNameOf(cluster));
        if (status !== undefined) statuses.set(cluster, status);
      }
    }
    return statuses;
  }

  hostIp(cluster: string, containerInstanceArn: string): Promise<string> {
    return this.hostIps.get(containerInstanceArn, async () => {
      this.calls.describeContainerInstances++;
      let instanceId: string | undefined;
      try {
        const out = await this.ecs.send(new DescribeContainerInstancesCommand({ cluster, containerInstances: [containerInstanceArn] }));
        instanceId = out.containerInstances?.[0]?.ec2InstanceId;
      } catch (err) {
        throw wrap('ecs', `DescribeContainerInstances ${containerInstanceArn}`, err);
      }
      if (!instanceId) throw new DependencyError('ecs', `container instance ${containerInstanceArn} has no EC2 instance id`);
      this.calls.describeInstances++;
      try {
        this.ec2 ??= loadEc2();
        const ip = await (await this.ec2)(instanceId);
        if (!ip) throw new Error(`instance ${instanceId} has no private IP`);
        return ip;
      } catch (err) {
        throw wrap('ec2', `DescribeInstances ${instanceId}`, err);
      }
    });
  }
}
