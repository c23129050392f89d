/**
 * ECS ARNs: the one place that knows how task and cluster ARNs are spelled, for validation at the
 * edge (strict) and for naming a cluster from an ARN or a name (lenient, for values already validated).
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
