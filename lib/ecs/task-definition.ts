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
}

/** A port range a container declares (`containerPortRange`): never published, reported as skipped. */
export interface PortRangeMapping {
  /** `"<first>-<last>"`, as the task definition writes it (checked when endpoints are planned). */
  readonly containerPortRange: string;
  readonly protocol: 'tcp' | 'udp';
}

/** One container definition, reduced to what registration reads. */
export interface ContainerDefinitionInfo {
  readonly name: string;
  readonly portMappings: readonly PortMapping[];
  /** Port-range mappings (no `containerPort`); optional so a hand-built definition may leave it out. */
  readonly portRanges?: readonly PortRangeMapping[];
  /** Docker labels; `registrar.*` labels steer registration. */
  readonly labels: Readonly<Record<string, string>>;
  /** Whether the container defines a health check (then it is registered only once HEALTHY). */
  readonly hasHealthCheck: boolean;
}

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
      portMappings: (c.portMappings ?? [])
        .filter((p) => typeof p.containerPort === 'number')
        .map((p) => ({
          containerPort: p.containerPort!,
          hostPort: p.hostPort || undefined,
          protocol: p.protocol === 'udp' ? 'udp' : 'tcp',
        })),
      portRanges: (c.portMappings ?? [])
        .filter((p) => typeof p.containerPort !== 'number' && p.containerPortRange !== undefined)
        .map((p) => ({ containerPortRange: String(p.containerPortRange), protocol: p.protocol === 'udp' ? ('udp' as const) : ('tcp' as const) })),
      labels: { ...(c.dockerLabels ?? {}) },
      hasHealthCheck: Boolean(c.healthCheck?.command?.length),
    })),
  };
}
