/**
 * "ECS Task State Change" events for tests, benchmarks and the scripts: the sample events of
 * test/fixtures/events, and many distinct tasks built from the Fargate sample.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskSnapshot } from '../../lib/ecs/task';

type Json = Record<string, any>;

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

/** A sample event from test/fixtures/events, parsed. */
export function loadEvent(name: string): Json {
  return JSON.parse(readFileSync(join(FIXTURES, 'events', `${name}.json`), 'utf8')) as Json;
}

/** A copy of an event with `detail` fields replaced. */
export function withDetail(event: Json, changes: Json): Json {
  return { ...structuredClone(event), detail: { ...structuredClone(event.detail), ...changes } };
}

const sample = loadEvent('fargate-awsvpc-running-ecs-devguide');
export const CLUSTER_ARN = sample.detail.clusterArn as string;
export const TASK_DEFINITION_ARN = sample.detail.taskDefinitionArn as string;

/** A task id that looks like ECS's (32 hex characters) for index `n`. */
export function taskId(n: number, salt = 'a'): string {
  return `${salt}${n.toString(16)}`.padStart(32, '0');
}

/** Options of {@link fargateEvent}. */
export interface FargateEventOptions {
  /** `detail` fields replaced (after the task's own). @default {} */
  readonly detail?: Json;
  /** Prefix of the task id, so the tasks of one test do not meet another's. @default 'a' */
  readonly salt?: string;
  /** Spreads the tasks over this many clusters ({@link taskCluster}). @default 1 (the sample's FargateCluster) */
  readonly clusters?: number;
  /**
   * Shares the nested objects not specific to the task with the sample instead of copying them,
   * so 100,000 events fit in memory (benchmarks). Such an event must not be changed in place.
   * @default false
   */
  readonly shared?: boolean;
  /** Account, region and cluster name of the task (another deployment's). @default the sample's */
  readonly place?: { readonly account: string; readonly region: string; readonly cluster: string };
}

/** Name of the cluster of task `n` among `clusters` (one: the sample's FargateCluster). */
export function taskCluster(n: number, clusters = 1): string {
  return clusters === 1 ? 'FargateCluster' : `scale-${String(n % clusters).padStart(2, '0')}`;
}

/**
 * Task `n` as the Fargate sample: RUNNING/RUNNING at the sample's version, with its own id and ENI
 * address (10.x.y.z from `n`), emitted now.
 *
 * @example
 * const event = fargateEvent(7, { detail: { group: 'service:checkout' }, salt: 'b' });
 */
export function fargateEvent(n: number, options: FargateEventOptions = {}): Json {
  const id = taskId(n, options.salt);
  const cluster = options.place?.cluster ?? taskCluster(n, options.clusters);
  const { account, region } = options.place ?? { account: '111122223333', region: 'us-west-2' };
  const arn = `arn:aws:ecs:${region}:${account}:task/${cluster}/${id}`;
  const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  const [container] = sample.detail.containers as Json[];
  const changes: Json = {
    taskArn: arn,
    ...(cluster === 'FargateCluster' && !options.place
      ? {}
      : { clusterArn: `arn:aws:ecs:${region}:${account}:cluster/${cluster}` }),
    attachments: [
      { id: `eni-${id}`, type: 'eni', status: 'ATTACHED', details: [{ name: 'privateIPv4Address', value: ip }] },
    ],
    containers: [{ ...container, taskArn: arn, networkInterfaces: [{ privateIpv4Address: ip }] }],
    ...options.detail,
  };
  const event = options.shared ? { ...sample, detail: { ...sample.detail, ...changes } } : withDetail(sample, changes);
  return {
    ...event,
    id: `${id}-${event.detail.version}-${event.detail.lastStatus}-${event.detail.desiredStatus}`,
    time: new Date().toISOString(),
    resources: [arn],
  };
}

/** The same task's event at another state and version. */
export function transition(
  event: Json,
  version: number,
  lastStatus: string,
  desiredStatus: string,
  extra: Json = {},
): Json {
  const next = withDetail(event, { version, lastStatus, desiredStatus, ...extra });
  return { ...next, id: `${event.detail.taskArn.split('/').pop()}-${version}-${lastStatus}-${desiredStatus}` };
}

/**
 * A task as the registrar's pure decisions see it: `TaskSnapshot` of task `id` in cluster `prod`
 * (us-east-1), RUNNING/RUNNING at version 5 with one container `app`, `changes` on top.
 */
export function taskSnapshot(id = 'abc', changes: Partial<TaskSnapshot> = {}): TaskSnapshot {
  return {
    taskArn: `arn:aws:ecs:us-east-1:123456789012:task/prod/${id}`,
    taskId: id,
    clusterArn: 'arn:aws:ecs:us-east-1:123456789012:cluster/prod',
    clusterName: 'prod',
    region: 'us-east-1',
    version: 5,
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/api:1',
    containers: [{ name: 'app', networkBindings: [] }],
    ...changes,
  };
}
