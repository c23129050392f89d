/**
 * The "ECS Task State Change" event and the task it describes, validated at the edge.
 *
 * Events and `DescribeTasks` answers describe the same task object (events use ISO strings for
 * times and `eni` for the attachment type), so both become one {@link TaskSnapshot}: the rest of
 * the code only ever sees data that passed this schema.
 */
import type { Task } from '@aws-sdk/client-ecs';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { InvalidEventError } from '../errors';
import { assertDialableIpv4, assertDialableIpv6 } from '../address';
import {
  CLUSTER_ARN,
  CONTAINER_INSTANCE_ARN,
  parseClusterArn,
  parseTaskArn,
  TASK_ARN,
  TASK_DEFINITION_ARN,
} from './arn';
import type { TaskSnapshot } from './task';

/** Largest number of containers accepted in one task (ECS allows 10 per task definition). */
export const MAX_CONTAINERS = 50;

// zod/mini keeps the bundles small; the English locale gives readable messages.
z.config(en());

const str = (max: number) => z.string().check(z.maxLength(max));
const matching = (re: RegExp, message: string) => z.string().check(z.regex(re, message));

/** ECS task and container statuses are upper-case words; new ones may appear. */
const status = matching(/^[A-Z][A-Z0-9_]{0,31}$/, 'expected an upper-case ECS status');
const healthStatus = z.enum(['HEALTHY', 'UNHEALTHY', 'UNKNOWN']);
const port = z.int().check(z.minimum(0), z.maximum(65535));
const isoTime = z
  .string()
  .check(z.maxLength(64), z.regex(/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})$/, 'expected an ISO-8601 time'));

/** `containerPortRange` / `hostPortRange` as ECS writes them: `"<first>-<last>"`. */
const portRange = matching(/^\d{1,5}-\d{1,5}$/, 'expected a port range "<first>-<last>"');

const networkBinding = z.object({
  bindIP: z.optional(str(64)),
  containerPort: z.optional(port),
  hostPort: z.optional(port),
  // Port-range mappings are reported as ranges, with no containerPort or hostPort.
  containerPortRange: z.optional(portRange),
  hostPortRange: z.optional(portRange),
  protocol: z.optional(z.enum(['tcp', 'udp'])),
});

const container = z.object({
  name: matching(/^[A-Za-z0-9_-]{1,255}$/, 'expected a container name (letters, digits, - and _)'),
  lastStatus: z.optional(status),
  healthStatus: z.optional(healthStatus),
  networkBindings: z.optional(z.array(networkBinding).check(z.maxLength(1000))),
  networkInterfaces: z.optional(
    z
      .array(z.object({ privateIpv4Address: z.optional(z.ipv4()), ipv6Address: z.optional(str(64)) }))
      .check(z.maxLength(16)),
  ),
});

const attachment = z.object({
  type: str(64),
  details: z.optional(z.array(z.object({ name: str(128), value: z.optional(str(1024)) })).check(z.maxLength(64))),
});

/**
 * The `detail` of an "ECS Task State Change" event. Unknown fields are accepted and left out of the
 * result (plain `z.object` skips them, which parses a quarter faster than carrying them along).
 */
export const taskDetailSchema = z.object({
  taskArn: matching(TASK_ARN, 'expected an ECS task ARN'),
  clusterArn: matching(CLUSTER_ARN, 'expected an ECS cluster ARN'),
  taskDefinitionArn: matching(
    TASK_DEFINITION_ARN,
    'expected an ECS task definition ARN (…:task-definition/<family>:<revision>)',
  ),
  version: z.int().check(z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)),
  lastStatus: status,
  desiredStatus: status,
  containers: z.optional(z.array(container).check(z.maxLength(MAX_CONTAINERS))),
  attachments: z.optional(z.array(attachment).check(z.maxLength(32))),
  containerInstanceArn: z.optional(matching(CONTAINER_INSTANCE_ARN, 'expected a container instance ARN')),
  group: z.optional(str(255)),
  launchType: z.optional(status),
  availabilityZone: z.optional(matching(/^[a-z0-9-]{1,32}$/, 'expected an availability zone')),
  healthStatus: z.optional(healthStatus),
  startedAt: z.optional(isoTime),
  stoppedAt: z.optional(isoTime),
  stopCode: z.optional(str(64)),
});

/** The EventBridge envelope of an "ECS Task State Change" event. */
export const taskStateChangeSchema = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(128)),
  /** When ECS emitted the event: how old a redelivered or replayed event is. */
  time: z.optional(isoTime),
  source: z.literal('aws.ecs', 'expected source "aws.ecs"'),
  'detail-type': z.literal('ECS Task State Change', 'expected detail-type "ECS Task State Change"'),
  detail: taskDetailSchema,
});

/** An accepted "ECS Task State Change" event. */
export interface TaskStateChange {
  /** EventBridge event id: identical for redeliveries of the same event. */
  readonly id: string;
  /**
   * When the event was emitted (the envelope's `time`), in milliseconds since the epoch; undefined
   * when the envelope has no `time` (EventBridge always sets it): such an event cannot be shown to
   * be recent, so registration treats it as old.
   */
  readonly emittedAt?: number;
  readonly task: TaskSnapshot;
}

function describeIssue(issue: z.core.$ZodIssue, root: string): InvalidEventError {
  const path = [root, ...issue.path.map(String)].filter(Boolean).join('.');
  return new InvalidEventError(issue.message, path || undefined);
}

function toSnapshot(detail: z.infer<typeof taskDetailSchema>, root: string): TaskSnapshot {
  const { region, account, clusterName: taskCluster, taskId } = parseTaskArn(detail.taskArn)!;
  const { region: clusterRegion, account: clusterAccount, clusterName } = parseClusterArn(detail.clusterArn)!;
  if (region !== clusterRegion || account !== clusterAccount)
    throw new InvalidEventError(
      `task ${detail.taskArn} is not in the account and region of cluster ${detail.clusterArn}`,
      `${root}taskArn`,
    );
  if (taskCluster !== undefined && taskCluster !== clusterName)
    throw new InvalidEventError(
      `task ${detail.taskArn} belongs to cluster "${taskCluster}", not "${clusterName}"`,
      `${root}taskArn`,
    );
  const eni = detail.attachments?.find((a) => a.type === 'eni' || a.type === 'ElasticNetworkInterface');
  const eniIpv4 = eni?.details?.find((d) => d.name === 'privateIPv4Address')?.value;
  if (eniIpv4 !== undefined) assertDialableIpv4(eniIpv4, `${root}attachments.privateIPv4Address`);
  // The ENI attachment's IPv6 detail is `ipv6Address` (as in containers[].networkInterfaces[]).
  const rawIpv6 = eni?.details?.find((d) => d.name === 'ipv6Address')?.value;
  const eniIpv6 = rawIpv6 === undefined ? undefined : assertDialableIpv6(rawIpv6, `${root}attachments.ipv6Address`);
  return {
    taskArn: detail.taskArn,
    taskId: taskId!,
    clusterArn: detail.clusterArn,
    clusterName: clusterName!,
    region: region!,
    version: detail.version,
    lastStatus: detail.lastStatus,
    desiredStatus: detail.desiredStatus,
    taskDefinitionArn: detail.taskDefinitionArn,
    containerInstanceArn: detail.containerInstanceArn,
    group: detail.group,
    launchType: detail.launchType,
    availabilityZone: detail.availabilityZone,
    healthStatus: detail.healthStatus,
    startedAt: detail.startedAt,
    eniIpv4,
    ...(eniIpv6 === undefined ? {} : { eniIpv6 }),
    containers: (detail.containers ?? []).map((c, i) => {
      const privateIpv4 = c.networkInterfaces?.find((n) => n.privateIpv4Address)?.privateIpv4Address;
      if (privateIpv4 !== undefined)
        assertDialableIpv4(privateIpv4, `${root}containers.${i}.networkInterfaces.privateIpv4Address`);
      const rawV6 = c.networkInterfaces?.find((n) => n.ipv6Address)?.ipv6Address;
      const privateIpv6 =
        rawV6 === undefined
          ? undefined
          : assertDialableIpv6(rawV6, `${root}containers.${i}.networkInterfaces.ipv6Address`);
      return {
        name: c.name,
        lastStatus: c.lastStatus,
        healthStatus: c.healthStatus,
        networkBindings: c.networkBindings ?? [],
        privateIpv4,
        ...(privateIpv6 === undefined ? {} : { privateIpv6 }),
      };
    }),
  };
}

/**
 * Validates an EventBridge "ECS Task State Change" event.
 *
 * @throws {InvalidEventError} naming the first thing wrong (path and expectation).
 * @example
 * const { id, task } = parseTaskStateChange(event);
 */
export function parseTaskStateChange(event: unknown): TaskStateChange {
  if (typeof event !== 'object' || event === null || Array.isArray(event))
    throw new InvalidEventError(
      `expected an EventBridge event object, got ${event === null ? 'null' : Array.isArray(event) ? 'an array' : typeof event}`,
    );
  const parsed = taskStateChangeSchema.safeParse(event);
  if (!parsed.success) throw describeIssue(parsed.error.issues[0]!, '');
  const emittedAt = parsed.data.time === undefined ? undefined : Date.parse(parsed.data.time);
  if (Number.isNaN(emittedAt))
    throw new InvalidEventError(`${JSON.stringify(parsed.data.time)} is not a valid time`, 'time');
  return { id: parsed.data.id, emittedAt, task: toSnapshot(parsed.data.detail, 'detail.') };
}

/** Copies a value with every `Date` turned into its ISO string, as events carry times. */
function datesToIso(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(datesToIso);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, datesToIso(v)]));
  return value;
}

/**
 * Validates a task from a `DescribeTasks` answer into the same snapshot an event gives.
 *
 * @throws {InvalidEventError} when ECS answered with a task this code cannot trust.
 */
export function snapshotFromDescribedTask(task: Task): TaskSnapshot {
  const parsed = taskDetailSchema.safeParse(datesToIso(task));
  if (!parsed.success) throw describeIssue(parsed.error.issues[0]!, 'DescribeTasks.task');
  return toSnapshot(parsed.data, 'DescribeTasks.task.');
}

/**
 * Validates a task ARN and its cluster ARN (as an event carries them) and returns the task's
 * registry identity.
 *
 * @throws {InvalidEventError} naming `root` + the field, when either is not an ECS ARN or they disagree.
 */
export function taskRefFromArns(
  taskArn: unknown,
  clusterArn: unknown,
  root = '',
): { taskArn: string; taskId: string; clusterArn: string; clusterName: string } {
  const task = typeof taskArn === 'string' ? parseTaskArn(taskArn) : undefined;
  if (!task) throw new InvalidEventError('expected an ECS task ARN', `${root}taskArn`);
  const cluster = typeof clusterArn === 'string' ? parseClusterArn(clusterArn) : undefined;
  if (!cluster) throw new InvalidEventError('expected an ECS cluster ARN', `${root}clusterArn`);
  if (
    task.region !== cluster.region ||
    task.account !== cluster.account ||
    (task.clusterName !== undefined && task.clusterName !== cluster.clusterName)
  )
    throw new InvalidEventError(`task ${taskArn} does not belong to cluster ${clusterArn}`, `${root}taskArn`);
  return {
    taskArn: taskArn as string,
    taskId: task.taskId,
    clusterArn: clusterArn as string,
    clusterName: cluster.clusterName,
  };
}
