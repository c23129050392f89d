/**
 * What an ECS service declares about the port it serves (DescribeServices): the container and port
 * of each load balancer target group and service registry, and the Service Connect port names of
 * each deployment. A strong default when a task marks no gRPC port and maps several: see
 * `selectPorts` (lib/port-selection.ts).
 */
import type { Service } from '@aws-sdk/client-ecs';

/** One container (and port) an ECS service sends traffic to. */
export interface DeclaredPort {
  readonly container: string;
  /** Absent for a service registry that names only the container. */
  readonly containerPort?: number;
  /** Where the service declares it, for people: `loadBalancers[0]`, `serviceRegistries[0]`. */
  readonly source: string;
}

/** A Service Connect port name of one deployment. */
export interface DeclaredPortName {
  readonly portName: string;
  /** The deployment's task definition: a rolling deploy has two deployments. */
  readonly taskDefinitionArn?: string;
}

/** An ECS service's declarations, reduced to what port selection reads. */
export interface ServiceDeclaration {
  readonly service: string;
  readonly ports: readonly DeclaredPort[];
  readonly portNames: readonly DeclaredPortName[];
}

const text = (value: unknown, max: number): string | undefined =>
  typeof value === 'string' && value !== '' ? value.slice(0, max) : undefined;
const port = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535 ? value : undefined;

/** Normalizes one service of a DescribeServices answer. */
export function toServiceDeclaration(service: Service): ServiceDeclaration {
  const ports: DeclaredPort[] = [];
  for (const [kind, list] of [
    ['loadBalancers', service.loadBalancers ?? []],
    ['serviceRegistries', service.serviceRegistries ?? []],
  ] as const)
    list.forEach((entry, i) => {
      const container = text(entry.containerName, 255);
      const containerPort = port(entry.containerPort);
      if (container) ports.push({ container, ...(containerPort ? { containerPort } : {}), source: `${kind}[${i}]` });
    });
  const portNames: DeclaredPortName[] = [];
  for (const deployment of service.deployments ?? [])
    for (const s of deployment.serviceConnectConfiguration?.services ?? []) {
      const portName = text(s.portName, 255);
      const taskDefinitionArn = text(deployment.taskDefinition, 2048);
      if (portName) portNames.push({ portName, ...(taskDefinitionArn ? { taskDefinitionArn } : {}) });
    }
  return { service: text(service.serviceName, 255) ?? '', ports, portNames };
}
