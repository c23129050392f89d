/**
 * The ECS reader port: the ECS and EC2 reads registration and renew need, and what they answer.
 * The interface and its types only; `AwsEcsReader` (api.ts) implements it over the SDK. Like
 * etcd's `endpoints.go` beside `endpoints_impl.go`: the decisions and use cases import this file,
 * never the adapter.
 */
import { DependencyError } from '../errors';
import type { ServiceDeclaration } from './service-declaration';
import type { TaskSnapshot } from './task';
import type { TaskDefinitionInfo } from './task-definition';

/** An instance's private IPv4 address and primary IPv6 address, either absent (IPv6-only or IPv4-only). */
export interface InstanceAddresses {
  readonly ipv4?: string;
  readonly ipv6?: string;
}

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
export const clusterGone = (status: ClusterStatus | undefined): boolean =>
  status === 'INACTIVE' || status === 'MISSING';

/** True for an ECS read that failed because ECS does not know the cluster (a hint, not proof: confirm with `describeClusters`). */
export function isClusterNotFound(err: unknown): boolean {
  return err instanceof DependencyError && (err.cause as Error | undefined)?.name === 'ClusterNotFoundException';
}

/** The ECS/EC2 reads registration and renew need. */
export interface EcsReader {
  /** A task definition revision (cached by ARN: revisions are immutable). */
  taskDefinition(arn: string): Promise<TaskDefinitionInfo>;
  /** Describes tasks of one cluster, 100 per call. */
  describeTasks(cluster: string, taskArns: readonly string[]): Promise<DescribedTasks>;
  /**
   * Every task ARN of a cluster with desiredStatus RUNNING (all pages).
   *
   * @param options.until time (ms since epoch) after which no further page is asked for: the
   *   listing then fails with a DependencyError caused by a DeadlineError (nothing is half-listed).
   */
  listRunningTasks(cluster: string, options?: { readonly until?: number }): Promise<string[]>;
  /**
   * Private IPv4 address of a container instance's EC2 instance (cached). Lookups asked for in the
   * same turn of the event loop are answered by one DescribeContainerInstances and one
   * DescribeInstances per 100 instances.
   */
  hostIp(cluster: string, containerInstanceArn: string): Promise<string>;
  /**
   * Private IPv4 and IPv6 addresses of a container instance's EC2 instance (one lookup with
   * {@link hostIp}, cached the same way); either may be absent, not both.
   */
  hostAddresses(cluster: string, containerInstanceArn: string): Promise<InstanceAddresses>;
  /**
   * What an ECS service declares about its ports (cached {@link SERVICE_DECLARATION_TTL_MS}; the
   * services asked for in one turn of the event loop are read 10 per DescribeServices); undefined
   * for a service ECS does not know.
   */
  serviceDeclaration(cluster: string, service: string): Promise<ServiceDeclaration | undefined>;
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
  describeServices: number;
  /** Requests ECS or EC2 answered with a throttling error (each retry counted). */
  throttled: number;
}
