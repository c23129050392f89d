/**
 * Builds realistic "ECS Task State Change" events from the Fargate sample for tests that need
 * many distinct tasks.
 */
import { loadEvent, withDetail } from './harness';

type Json = Record<string, any>;

const sample = loadEvent('fargate-awsvpc-running-ecs-devguide');
export const CLUSTER_ARN = sample.detail.clusterArn as string;
export const TASK_DEFINITION_ARN = sample.detail.taskDefinitionArn as string;

/** A task id that looks like ECS's (32 hex characters) for index `n`. */
export function taskId(n: number, salt = 'a'): string {
  return `${salt}${n.toString(16)}`.padStart(32, '0');
}

/** A Fargate task's event: RUNNING/RUNNING at `version`, with its own id and ENI address, emitted now. */
export function fargateEvent(n: number, changes: Json = {}, salt?: string): Json {
  const id = taskId(n, salt);
  const arn = `arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/${id}`;
  const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  const event = withDetail(sample, {
    taskArn: arn,
    attachments: [{ id: `eni-${id}`, type: 'eni', status: 'ATTACHED', details: [{ name: 'privateIPv4Address', value: ip }] }],
    containers: [{ ...sample.detail.containers[0], taskArn: arn, networkInterfaces: [{ privateIpv4Address: ip }] }],
    ...changes,
  });
  return { ...event, id: `${id}-${event.detail.version}-${event.detail.lastStatus}-${event.detail.desiredStatus}`, time: new Date().toISOString(), resources: [arn] };
}

/** The same task's event at another state and version. */
export function transition(event: Json, version: number, lastStatus: string, desiredStatus: string, extra: Json = {}): Json {
  const next = withDetail(event, { version, lastStatus, desiredStatus, ...extra });
  return { ...next, id: `${event.detail.taskArn.split('/').pop()}-${version}-${lastStatus}-${desiredStatus}` };
}
