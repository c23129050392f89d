/**
 * The parts of an ECS task definition that registration needs. Revisions are immutable, so a
 * normalized definition can be cached by ARN for the life of the process.
 */
import type { TaskDefinition } from '@aws-sdk/client-ecs';
import { InvalidEventError } from '../errors';

/** A port a container declares in its task definition. */
export interface PortMapping {
  readonly containerPort: number;
  /** Static host port (bridge/host); absent or 0 means dynamic. */
  readonly hostPort?: number;
  readonly protocol: 'tcp' | 'udp';
  /** The mapping's `name` (Service Connect's `portName` refers to it). */
  readonly name?: string;
  /** ECS's `appProtocol`: `grpc` marks a gRPC endpoint, `http` one that is not (see docs/design.md). */
  readonly appProtocol?: AppProtocol;
}

/** ECS's `PortMapping.appProtocol` values. */
export const AppProtocol = { Http: 'http', Http2: 'http2', Grpc: 'grpc' } as const;
export type AppProtocol = (typeof AppProtocol)[keyof typeof AppProtocol];

/** A port range a container declares (`containerPortRange`): never published, reported as skipped. */
export interface PortRangeMapping {
  /** `"<first>-<last>"`, as the task definition writes it (checked when endpoints are planned). */
  readonly containerPortRange: string;
  readonly protocol: 'tcp' | 'udp';
}

/** One container definition, reduced to what registration reads. */
export interface ContainerDefinitionInfo {
  readonly name: string;
  /** The image reference (`repository:tag`), for telling well-known sidecars apart. @default "" */
  readonly image?: string;
  /** Whether the task stops when this container stops (ECS's `essential`). @default true */
  readonly essential?: boolean;
  /** Whether the container is a FireLens log router (`firelensConfiguration` set): a sidecar. */
  readonly logRouter?: boolean;
  /** Containers this one waits for (`dependsOn[].containerName`): what applications wait for is a helper. */
  readonly dependsOn?: readonly string[];
  readonly portMappings: readonly PortMapping[];
  /** Port-range mappings (no `containerPort`); optional so a hand-built definition may leave it out. */
  readonly portRanges?: readonly PortRangeMapping[];
  /** Docker labels; `registrar.*` labels steer registration. */
  readonly labels: Readonly<Record<string, string>>;
  /** Whether the container defines a health check (then it is registered only once HEALTHY). */
  readonly hasHealthCheck: boolean;
  /** The health check's timing, with ECS's defaults filled in (present when `hasHealthCheck`). */
  readonly healthCheck?: HealthCheckTiming;
}

/** When a container's health check runs, in seconds; ECS's defaults where the definition is silent. */
export interface HealthCheckTiming {
  /** Between two checks. @default 30 */
  readonly intervalSeconds: number;
  /** One check may take this long before it counts as failed. @default 5 */
  readonly timeoutSeconds: number;
  /** Consecutive failures before the container is UNHEALTHY. @default 3 */
  readonly retries: number;
  /** Grace period after start in which failures do not count (a success does). @default 0 */
  readonly startPeriodSeconds: number;
}

/** ECS's health check defaults (ContainerDefinition.healthCheck). */
export const HEALTH_CHECK_DEFAULTS: HealthCheckTiming = {
  intervalSeconds: 30,
  timeoutSeconds: 5,
  retries: 3,
  startPeriodSeconds: 0,
};

/** A whole number within bounds, else the default (ECS rejects definitions outside its limits anyway). */
const bounded = (value: number | undefined, min: number, max: number, fallback: number) =>
  typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : fallback;

/** A task definition revision, reduced to what registration reads. */
export interface TaskDefinitionInfo {
  readonly arn: string;
  readonly family: string;
  /** `awsvpc`, `bridge`, `host` or `none`; ECS defaults to `bridge` on EC2 when unset. */
  readonly networkMode: string;
  readonly containers: readonly ContainerDefinitionInfo[];
}

/**
 * Normalizes a `DescribeTaskDefinition` answer.
 *
 * @throws {InvalidEventError} when the definition lacks what registration needs.
 */
export function toTaskDefinitionInfo(definition: TaskDefinition): TaskDefinitionInfo {
  if (!definition.taskDefinitionArn || !definition.family)
    throw new InvalidEventError('task definition has no ARN or family', 'taskDefinition');
  return {
    arn: definition.taskDefinitionArn,
    family: definition.family,
    networkMode: definition.networkMode ?? 'bridge',
    containers: (definition.containerDefinitions ?? []).map((c) => ({
      name: c.name ?? '',
      image: typeof c.image === 'string' ? c.image.slice(0, 512) : '',
      essential: c.essential !== false,
      logRouter: c.firelensConfiguration !== undefined,
      dependsOn: (c.dependsOn ?? []).map((d) => String(d.containerName ?? '')).filter(Boolean),
      portMappings: (c.portMappings ?? [])
        .filter((p) => typeof p.containerPort === 'number')
        .map((p) => ({
          containerPort: p.containerPort!,
          hostPort: p.hostPort || undefined,
          protocol: p.protocol === 'udp' ? 'udp' : 'tcp',
          ...(typeof p.name === 'string' && p.name !== '' ? { name: p.name.slice(0, 255) } : {}),
          // An unknown protocol (none exists today) is left out: it marks nothing.
          ...(Object.values(AppProtocol).includes(p.appProtocol as AppProtocol)
            ? { appProtocol: p.appProtocol as AppProtocol }
            : {}),
        })),
      portRanges: (c.portMappings ?? [])
        .filter((p) => typeof p.containerPort !== 'number' && p.containerPortRange !== undefined)
        .map((p) => ({
          containerPortRange: String(p.containerPortRange),
          protocol: p.protocol === 'udp' ? ('udp' as const) : ('tcp' as const),
        })),
      labels: { ...(c.dockerLabels ?? {}) },
      hasHealthCheck: Boolean(c.healthCheck?.command?.length),
      ...(c.healthCheck?.command?.length
        ? {
            // ECS accepts intervals from 5 s; 1 s is allowed here so local runs can use short checks.
            healthCheck: {
              intervalSeconds: bounded(c.healthCheck.interval, 1, 300, HEALTH_CHECK_DEFAULTS.intervalSeconds),
              timeoutSeconds: bounded(c.healthCheck.timeout, 1, 120, HEALTH_CHECK_DEFAULTS.timeoutSeconds),
              retries: bounded(c.healthCheck.retries, 1, 10, HEALTH_CHECK_DEFAULTS.retries),
              startPeriodSeconds: bounded(c.healthCheck.startPeriod, 0, 300, HEALTH_CHECK_DEFAULTS.startPeriodSeconds),
            },
          }
        : {}),
    })),
  };
}
