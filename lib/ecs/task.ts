/**
 * A validated ECS task as the registrar's decisions see it, and what its status means. Types and
 * one pure classifier, apart from the event parser (event.ts) and the SDK adapter (api.ts) that
 * both produce a snapshot, so the decisions import neither.
 */

/** One network binding of a container (bridge and host networking). */
export interface NetworkBindingSnapshot {
  readonly bindIP?: string;
  readonly containerPort?: number;
  readonly hostPort?: number;
  /** `"<first>-<last>"` for a port-range mapping, which reports no `containerPort`. */
  readonly containerPortRange?: string;
  /** The host ports ECS bound to a port-range mapping, `"<first>-<last>"`. */
  readonly hostPortRange?: string;
  readonly protocol?: 'tcp' | 'udp';
}

/** One container of a task, as far as registration cares. */
export interface ContainerSnapshot {
  readonly name: string;
  readonly lastStatus?: string;
  readonly healthStatus?: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  readonly networkBindings: readonly NetworkBindingSnapshot[];
  /** The container's awsvpc address, when the task reports one. */
  readonly privateIpv4?: string;
  /** The container's awsvpc IPv6 address (canonical), when the task reports one. */
  readonly privateIpv6?: string;
}

/** A validated view of one ECS task, from an event or from `DescribeTasks`. */
export interface TaskSnapshot {
  readonly taskArn: string;
  /** Last segment of the task ARN: unique, safe as a key segment. */
  readonly taskId: string;
  readonly clusterArn: string;
  /** Cluster name from the cluster ARN: safe as a key segment. */
  readonly clusterName: string;
  readonly region: string;
  /** `detail.version`: orders one task's events. */
  readonly version: number;
  readonly lastStatus: string;
  readonly desiredStatus: string;
  readonly taskDefinitionArn: string;
  readonly containerInstanceArn?: string;
  readonly group?: string;
  readonly launchType?: string;
  readonly availabilityZone?: string;
  readonly healthStatus?: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  readonly startedAt?: string;
  /** IPv4 address of the task's ENI (awsvpc), when attached. */
  readonly eniIpv4?: string;
  /** IPv6 address of the task's ENI (awsvpc: IPv6-only or dual-stack subnets), canonical, when attached. */
  readonly eniIpv6?: string;
  readonly containers: readonly ContainerSnapshot[];
}

/** What a task state change means for registration. */
export const TaskPhase = {
  /** Running and meant to keep running: register. */
  Started: 'started',
  /** ECS decided to stop it (or it has stopped): deregister now. */
  Stopping: 'stopping',
  /** Provisioning, pending, activating: nothing to do yet. */
  Starting: 'starting',
} as const;
export type TaskPhase = (typeof TaskPhase)[keyof typeof TaskPhase];

/** Classifies a task by its `lastStatus` and `desiredStatus`. */
export function taskPhase(task: Pick<TaskSnapshot, 'lastStatus' | 'desiredStatus'>): TaskPhase {
  if (task.desiredStatus === 'STOPPED' || task.lastStatus === 'STOPPED' || task.lastStatus === 'DELETED')
    return TaskPhase.Stopping;
  if (task.lastStatus === 'RUNNING' && task.desiredStatus === 'RUNNING') return TaskPhase.Started;
  if (['DEACTIVATING', 'STOPPING', 'DEPROVISIONING'].includes(task.lastStatus)) return TaskPhase.Stopping;
  return TaskPhase.Starting;
}

/** A task's state in ECS's words, for reasons and log lines. */
export function describeState(task: TaskSnapshot): string {
  return `${task.lastStatus}/${task.desiredStatus}${task.healthStatus ? ` ${task.healthStatus}` : ''} at version ${task.version}`;
}
