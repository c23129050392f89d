/**
 * ECS ARNs: the one place that knows how task, task definition, container instance and cluster ARNs
 * are spelled, for validation at the edge (strict), for naming a cluster from an ARN or a name
 * (lenient, for values already validated) and for reading the task an operator names (lenient).
 */

/** The partition part of an ARN: `arn:aws`, `arn:aws-cn`, `arn:aws-us-gov`, … */
export const ARN_PARTITION = 'arn:aws(?:-[a-z]+)*';

/** What a cluster name may be (ECS: letters, digits, `_` and `-`, at most 255). */
const CLUSTER_NAME = '[A-Za-z0-9_-]{1,255}';

/** A task ARN; groups: region, account, cluster name (absent in the older format), task ID. */
export const TASK_ARN = new RegExp(
  `^${ARN_PARTITION}:ecs:([a-z0-9-]{1,32}):(\\d{12}):task/(?:(${CLUSTER_NAME})/)?([A-Za-z0-9-]{1,64})$`,
);
/** A cluster ARN; groups: region, account, cluster name. */
export const CLUSTER_ARN = new RegExp(`^${ARN_PARTITION}:ecs:([a-z0-9-]{1,32}):(\\d{12}):cluster/(${CLUSTER_NAME})$`);
const CLUSTER_NAME_ONLY = new RegExp(`^${CLUSTER_NAME}$`);
/** A task definition ARN (`…:task-definition/<family>:<revision>`). */
export const TASK_DEFINITION_ARN = new RegExp(
  `^${ARN_PARTITION}:ecs:[a-z0-9-]{1,32}:\\d{12}:task-definition/[A-Za-z0-9_-]{1,255}:\\d{1,10}$`,
);
/** A container instance ARN (`…:container-instance/<cluster>/<id>`, or the older `…:container-instance/<id>`). */
export const CONTAINER_INSTANCE_ARN = new RegExp(
  `^${ARN_PARTITION}:ecs:[a-z0-9-]{1,32}:\\d{12}:container-instance/(?:${CLUSTER_NAME}/)?[A-Za-z0-9-]{1,64}$`,
);
/**
 * A task ARN as an operator types it: lenient (any partition, region and account), because it only
 * picks among records already stored, never lets a value in. Groups: cluster name (absent in the
 * older format), task ID.
 */
const TASK_ARN_TYPED = /^arn:[^:]+:ecs:[^:]*:\d*:task\/(?:([^/]+)\/)?([^/]+)$/;

/** The parts of a task ARN (`…:task/<cluster>/<id>`, or the older `…:task/<id>` without the cluster). */
export interface TaskArnParts {
  readonly region: string;
  readonly account: string;
  readonly clusterName?: string;
  readonly taskId: string;
}

/** The parts of a cluster ARN. */
export interface ClusterArnParts {
  readonly region: string;
  readonly account: string;
  readonly clusterName: string;
}

/** The parts of an ECS task ARN, or undefined when the value is not one. */
export function parseTaskArn(arn: string): TaskArnParts | undefined {
  const match = TASK_ARN.exec(arn);
  if (!match) return undefined;
  const [, region, account, clusterName, taskId] = match;
  return { region: region!, account: account!, clusterName, taskId: taskId! };
}

/** The parts of an ECS cluster ARN, or undefined when the value is not one. */
export function parseClusterArn(arn: string): ClusterArnParts | undefined {
  const match = CLUSTER_ARN.exec(arn);
  if (!match) return undefined;
  const [, region, account, clusterName] = match;
  return { region: region!, account: account!, clusterName: clusterName! };
}

/** True for a cluster name or a cluster ARN (how CLUSTERS names the clusters it serves). */
export function isClusterArnOrName(value: string): boolean {
  return CLUSTER_NAME_ONLY.test(value) || CLUSTER_ARN.test(value);
}

/**
 * The cluster name of a cluster ARN (what follows `:cluster/`), or the value itself when it is a
 * name. Lenient: meant for values validated where they entered (events, CLUSTERS, ECS answers).
 */
export function clusterNameOf(clusterArnOrName: string): string {
  const at = clusterArnOrName.indexOf(':cluster/');
  return clusterArnOrName.startsWith('arn:') && at >= 0
    ? clusterArnOrName.slice(at + ':cluster/'.length)
    : clusterArnOrName;
}

/**
 * The task ID and cluster name of a task ARN (`…:task/<cluster>/<id>` or the older `…:task/<id>`),
 * or of a bare task ID, as an operator names a task (the CLI's `show`). Lenient, see above.
 */
export function parseTaskRef(arnOrId: string): { clusterName?: string; taskId: string } {
  const match = TASK_ARN_TYPED.exec(arnOrId.trim());
  if (match) return { clusterName: match[1], taskId: match[2]! };
  return { taskId: arnOrId.trim() };
}
