/**
 * Health-checked Fargate tasks for the follow-up tests, the health bench and the demo's rolling
 * deploy: a task definition whose container has a health check (by default a short one: 1 s
 * interval, so a follow-up check falls due every second), tasks of it built from the Fargate
 * sample, health changes as ECS reports them, and a recorder of every state a service's endpoint
 * directory goes through.
 */
import type { Etcd3 } from 'etcd3';
import { prefixEnd } from '../../lib/etcd/registry';
import type { LocalAws } from './local-aws';
import { fargateEvent, transition } from './events';

type Json = Record<string, any>;

/** The health-checked task definition (container `FargateApp` like the sample, port 50051). */
export const CHECKED_DEFINITION_ARN = 'arn:aws:ecs:us-west-2:111122223333:task-definition/checked-api:1';

/** Health check timing of a container, in seconds (what a task definition's `healthCheck` holds). */
export interface HealthCheckTiming {
  readonly interval?: number;
  readonly timeout?: number;
  readonly retries?: number;
  readonly startPeriod?: number;
}

/** Options of {@link putCheckedDefinition}. */
export interface CheckedDefinitionOptions {
  /** @default CHECKED_DEFINITION_ARN */
  readonly arn?: string;
  /** @default 'checked-api' */
  readonly family?: string;
  /**
   * The health check's timing; `'ecs-defaults'` gives none, so ECS's defaults apply (30 s
   * interval, 5 s timeout, 3 retries, no start period).
   * @default a 1 s interval and timeout, 2 retries, no start period (a follow-up check every second)
   */
  readonly timing?: HealthCheckTiming | 'ecs-defaults';
}

/**
 * Declares a health-checked task definition: one container `FargateApp` like the sample's, on port
 * 50051, whose health check gates registration.
 */
export function putCheckedDefinition(aws: LocalAws, options: CheckedDefinitionOptions = {}): void {
  const timing = options.timing ?? {};
  const healthCheck =
    timing === 'ecs-defaults'
      ? {}
      : {
          interval: timing.interval ?? 1,
          timeout: timing.timeout ?? 1,
          retries: timing.retries ?? 2,
          startPeriod: timing.startPeriod ?? 0,
        };
  aws.putTaskDefinition({
    taskDefinitionArn: options.arn ?? CHECKED_DEFINITION_ARN,
    family: options.family ?? 'checked-api',
    revision: 1,
    networkMode: 'awsvpc',
    containerDefinitions: [
      {
        name: 'FargateApp',
        essential: true,
        portMappings: [{ containerPort: 50051, protocol: 'tcp' }],
        healthCheck: { command: ['CMD', 'grpc_health_probe', '-addr=:50051'], ...healthCheck },
      },
    ],
  });
}

/** One health-checked task. */
export interface CheckedTask {
  readonly taskArn: string;
  readonly taskId: string;
  /** Its ENI address. */
  readonly ip: string;
  /** Its RUNNING event (with a health status only when it started HEALTHY: events usually carry none). */
  readonly running: Json;
  /** ECS decides to stop it: DescribeTasks says desiredStatus STOPPED; returns the event. */
  stop(): Json;
  /** ECS now reports the task and its container with this health status. */
  report(health: 'HEALTHY' | 'UNHEALTHY'): void;
}

/** Options of {@link checkedTask}. */
export interface CheckedTaskOptions {
  /** Prefix of the task id, so the tasks of one test do not meet another's (see `fargateEvent`). */
  readonly salt: string;
  /** @default 'checked-api' */
  readonly service?: string;
  /** Its task definition, declared beforehand. @default CHECKED_DEFINITION_ARN */
  readonly definitionArn?: string;
  /** When it started (ISO). @default now */
  readonly startedAt?: string;
  /** Health ECS reports from the start; HEALTHY also goes into its RUNNING event. @default 'UNKNOWN' */
  readonly health?: 'UNKNOWN' | 'HEALTHY';
}

/** Builds task `n` of a health-checked service and tells the local ECS endpoint about it. */
export function checkedTask(aws: LocalAws, n: number, options: CheckedTaskOptions): CheckedTask {
  const health = options.health ?? 'UNKNOWN';
  const detail = {
    taskDefinitionArn: options.definitionArn ?? CHECKED_DEFINITION_ARN,
    group: `service:${options.service ?? 'checked-api'}`,
    startedAt: options.startedAt ?? new Date().toISOString(),
    ...(health === 'HEALTHY' ? { healthStatus: health } : {}),
  };
  const running = fargateEvent(n, { detail, salt: options.salt });
  const taskArn = running.detail.taskArn as string;
  aws.putTaskFromDetail({
    ...running.detail,
    healthStatus: health,
    containers: running.detail.containers.map((c: Json) => ({ ...c, healthStatus: health })),
  });
  return {
    taskArn,
    taskId: taskArn.split('/').pop()!,
    ip: running.detail.attachments[0].details[0].value as string,
    running,
    stop: () => {
      aws.updateTask(taskArn, { desiredStatus: 'STOPPED', version: 5 });
      return transition(running, 5, 'RUNNING', 'STOPPED');
    },
    report: (health) => {
      const task = aws.tasks.get(taskArn)!;
      aws.updateTask(taskArn, {
        healthStatus: health,
        containers: (task.containers as Json[]).map((c) => ({ ...c, healthStatus: health })),
      });
    },
  };
}

/** Every state of one service's endpoint directory, from the moment recording starts. */
export interface ServiceRecording {
  /** Number of endpoint keys after each etcd revision that touched the directory (the first: at start). */
  readonly counts: number[];
  /** Task ids that ever had an endpoint key in the directory. */
  readonly everPublished: Set<string>;
  /** Endpoint keys now. */
  readonly current: Set<string>;
  stop(): Promise<void>;
}

/**
 * Records the endpoint directory `directory` (with its trailing slash): its keys now, then every
 * change, applied a whole revision at a time (a transaction's keys share one revision).
 */
export async function recordService(client: Etcd3, directory: string): Promise<ServiceRecording> {
  const start = await client.kv.range({ key: Buffer.from(directory), range_end: prefixEnd(directory) });
  const current = new Set(start.kvs.map((kv) => kv.key.toString()));
  const taskOf = (key: string) => key.slice(directory.length).split(':')[0]!;
  const everPublished = new Set([...current].map(taskOf));
  const counts = [current.size];
  const watcher = await client
    .watch()
    .prefix(directory)
    .startRevision(String(Number(start.header.revision) + 1))
    .create();
  watcher.on('data', (res) => {
    for (const event of res.events) {
      const key = event.kv.key.toString();
      if (event.type === 'Put') {
        current.add(key);
        everPublished.add(taskOf(key));
      } else current.delete(key);
    }
    counts.push(current.size);
  });
  return { counts, everPublished, current, stop: () => watcher.cancel() };
}
