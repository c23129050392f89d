/**
 * Pure: which container ports of a task are its gRPC endpoints, and under which service name,
 * decided from the task definition (and the task's ECS service name) alone. Which containers are
 * running never enters the choice, so a container that stops, restarts, is added or is removed
 * never renames, re-points or empties another container's endpoints (docs/design.md, "Which
 * endpoints a task publishes", gives the order).
 */
import type { ServiceDeclaration } from './ecs/service-declaration';
import type { ContainerDefinitionInfo, TaskDefinitionInfo } from './ecs/task-definition';
import { AppProtocol } from './ecs/task-definition';
import { InvalidEventError } from './errors';
import { assertSegment } from './keys';

/** Docker labels that steer registration. */
export const Labels = {
  /** Service name to publish the container under. */
  Service: 'registrar.service',
  /** Comma list of container ports to publish: exactly these (overrides every other rule). */
  Ports: 'registrar.ports',
  /** `true` skips the container. */
  Skip: 'registrar.skip',
} as const;

/** Which rule chose a port (recorded in the task record, shown by `show` and `check`). */
export const ChoiceRule = {
  /** Listed in the container's `registrar.ports` label. */
  Label: 'label',
  /** Marked `appProtocol: "grpc"` in its port mapping. */
  AppProtocol: 'app-protocol',
  /** Declared by the task's ECS service (load balancer, service registry or Service Connect port name). */
  EcsService: 'ecs-service',
  /** The only candidate TCP port under its service name (nothing to choose between). */
  OnlyPort: 'only-port',
  /** Several candidates and nothing marked: the documented ambiguity rule chose (logged as a WARN). */
  Ambiguous: 'ambiguous',
} as const;
export type ChoiceRule = (typeof ChoiceRule)[keyof typeof ChoiceRule];

/** One chosen port: published under `service` whenever its container runs. */
export interface PortChoice {
  readonly service: string;
  readonly container: string;
  readonly containerPort: number;
  readonly rule: ChoiceRule;
  /** Why, for people. */
  readonly reason: string;
}

/** A service whose port the ambiguity rule chose, with the other candidates and the fix. */
export interface Ambiguity {
  readonly service: string;
  /** `container:port` chosen. */
  readonly chosen: string;
  /** Every candidate, `container:port`, in rank order (the chosen one first). */
  readonly candidates: readonly string[];
  /** What to change in the task definition so nothing is guessed. */
  readonly fix: string;
}

/** What {@link selectPorts} decided. */
export interface PortSelection {
  /** Containers that may publish (not skipped by label, not Service Connect's Envoy), in definition order. */
  readonly considered: readonly string[];
  readonly chosen: readonly PortChoice[];
  /** Containers and ports left out, with why. */
  readonly skipped: readonly { readonly container: string; readonly reason: string }[];
  readonly ambiguities: readonly Ambiguity[];
}

/** The prefix ECS gives the Envoy container it injects for Service Connect. */
export const SERVICE_CONNECT_CONTAINER_PREFIX = 'ecs-service-connect-';

/**
 * Images of agents that run beside an application and listen on ports of their own (APM, tracing,
 * metrics, log routing, proxies): their ports are never a service's gRPC endpoints.
 */
const AGENT_IMAGE =
  /(?:^|\/)(?:datadog\/agent|datadoghq\/agent|datadog-agent|aws-otel-collector|opentelemetry-collector[a-z-]*|otel\/opentelemetry-collector[a-z-]*|aws-xray-daemon|xray-daemon|aws-appmesh-envoy|envoy|envoyproxy\/envoy[a-z-]*|aws-for-fluent-bit|fluent-bit|fluentd|cloudwatch-agent|newrelic\/infrastructure[a-z-]*|splunk-otel-collector|grafana\/agent|grafana\/alloy|jaegertracing\/jaeger-agent)(?::|@|$)/;

function labelPath(container: string, label: string): string {
  return `taskDefinition.containerDefinitions[${container}].dockerLabels["${label}"]`;
}

/** The ports of the `registrar.ports` label, or undefined without one. */
function labelledPorts(def: ContainerDefinitionInfo): Set<number> | undefined {
  const raw = def.labels[Labels.Ports];
  if (raw === undefined) return undefined;
  const ports = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const parsed = ports.map((p) => (/^\d{1,5}$/.test(p) ? Number(p) : NaN));
  if (ports.length === 0 || parsed.some((p) => !(p >= 1 && p <= 65535)))
    throw new InvalidEventError(
      `${JSON.stringify(raw.slice(0, 64))} is not a comma list of ports 1-65535`,
      labelPath(def.name, Labels.Ports),
    );
  return new Set(parsed);
}

/** The service name of a container: its label, else the ECS service, else the task definition family. */
export function baseServiceName(
  task: { readonly group?: string },
  definition: Pick<TaskDefinitionInfo, 'family'>,
  container: ContainerDefinitionInfo,
): string {
  const label = container.labels[Labels.Service];
  if (label !== undefined) return assertSegment(label, labelPath(container.name, Labels.Service));
  const group = task.group ?? '';
  if (group.startsWith('service:')) return assertSegment(group.slice('service:'.length), 'detail.group');
  if (group.startsWith('family:')) return assertSegment(group.slice('family:'.length), 'detail.group');
  return assertSegment(definition.family, 'taskDefinition.family');
}

/**
 * Why a container is a sidecar (a helper beside the application), or undefined. A sidecar's ports
 * are never published under the task's service name; labelling it `registrar.service` publishes
 * them under a name of its own.
 */
export function sidecarReason(container: ContainerDefinitionInfo): string | undefined {
  if (container.logRouter) return 'a FireLens log router';
  if (container.essential === false) return 'not essential (essential: false)';
  const image = (container.image ?? '').toLowerCase();
  if (AGENT_IMAGE.test(image)) return `a well-known agent image (${image.slice(0, 80)})`;
  return undefined;
}

/** A candidate port of the ambiguity rule, with what ranks it. */
interface Candidate {
  readonly container: ContainerDefinitionInfo;
  readonly service: string;
  readonly containerPort: number;
  /** The port mapping's name (Service Connect's `portName` refers to it). */
  readonly name?: string;
  readonly http2: boolean;
  readonly order: number;
}

/**
 * Ranks candidates: a port marked `http2` (it can carry gRPC) before an unmarked one; then the
 * container named like the service; then a container no other container `dependsOn` (sidecars are
 * what applications wait for); then task definition order, container first, then port.
 */
function rank(service: string, dependedOn: ReadonlySet<string>) {
  const key = (c: Candidate) => [
    c.http2 ? 0 : 1,
    c.container.name === service ? 0 : 1,
    dependedOn.has(c.container.name) ? 1 : 0,
    c.order,
  ];
  return (a: Candidate, b: Candidate) => {
    const [ka, kb] = [key(a), key(b)];
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! - kb[i]!;
    return 0;
  };
}

const where = (c: ContainerDefinitionInfo, port: number) => `${c.name}:${port}`;

/** Options of {@link selectPorts}. */
export interface SelectOptions {
  /**
   * What the task's ECS service declares (DescribeServices): among several unmarked candidates of
   * the service's own name, the one it declares is chosen. @default none: the ambiguity rule
   */
  readonly declared?: ServiceDeclaration;
}

/** The declaration that names a candidate, if any. */
function declaredBy(c: Candidate, declared: ServiceDeclaration, definitionArn: string): string | undefined {
  const port = declared.ports.find(
    (d) => d.container === c.container.name && (d.containerPort === undefined || d.containerPort === c.containerPort),
  );
  if (port)
    return `${port.source} (container ${port.container}${port.containerPort ? `, port ${port.containerPort}` : ''})`;
  const named = declared.portNames.find(
    (n) => n.portName === c.name && (n.taskDefinitionArn === undefined || n.taskDefinitionArn === definitionArn),
  );
  return named ? `serviceConnectConfiguration portName ${named.portName}` : undefined;
}

/**
 * Chooses a task's gRPC ports, in order: containers skipped by label or that are Service
 * Connect's Envoy never publish; `registrar.ports` publishes exactly the listed ports; when any port
 * of the task is marked `appProtocol: "grpc"`, only marked ports publish; otherwise, per service
 * name, the one candidate TCP port (not marked `http`, not a sidecar's), or, among several, the one
 * the ambiguity rule ranks first (reported in `ambiguities`). Every chosen port of a service is
 * published under that service's name: never a name that depends on how many ports the task has.
 *
 * @throws {InvalidEventError} for a bad label or an unsafe name.
 */
export function selectPorts(
  task: { readonly group?: string },
  definition: TaskDefinitionInfo,
  options: SelectOptions = {},
): PortSelection {
  const chosen: PortChoice[] = [];
  const skipped: { container: string; reason: string }[] = [];
  const ambiguities: Ambiguity[] = [];
  const live = definition.containers.filter((c) => {
    if (c.labels[Labels.Skip] === 'true') {
      skipped.push({ container: c.name, reason: `label ${Labels.Skip}=true` });
      return false;
    }
    if (c.name.startsWith(SERVICE_CONNECT_CONTAINER_PREFIX)) {
      if (c.portMappings.length > 0)
        skipped.push({ container: c.name, reason: "Service Connect's Envoy proxy: never published" });
      return false;
    }
    return true;
  });
  const tcp = (c: ContainerDefinitionInfo) => c.portMappings.filter((p) => p.protocol === 'tcp');
  const marked = live.some((c) => c.labels[Labels.Ports] === undefined && tcp(c).some((p) => p.appProtocol === 'grpc'));
  const dependedOn = new Set(live.flatMap((c) => c.dependsOn ?? []));
  const candidates = new Map<string, Candidate[]>();
  let order = 0;
  for (const c of live) {
    const only = labelledPorts(c);
    const service = tcp(c).length > 0 || only ? baseServiceName(task, definition, c) : '';
    if (only) {
      for (const port of only)
        chosen.push({
          service,
          container: c.name,
          containerPort: port,
          rule: ChoiceRule.Label,
          reason: `listed in label ${Labels.Ports}`,
        });
      continue;
    }
    if (marked) {
      for (const p of tcp(c))
        if (p.appProtocol === AppProtocol.Grpc)
          chosen.push({
            service,
            container: c.name,
            containerPort: p.containerPort,
            rule: ChoiceRule.AppProtocol,
            reason: `marked appProtocol grpc${p.name ? ` (port mapping ${p.name})` : ''}`,
          });
        else
          skipped.push({
            container: c.name,
            reason: `port ${p.containerPort} is not published: the task marks its gRPC ports with appProtocol grpc`,
          });
      continue;
    }
    const sidecar = c.labels[Labels.Service] === undefined ? sidecarReason(c) : undefined;
    for (const p of tcp(c)) {
      if (p.appProtocol === AppProtocol.Http)
        skipped.push({
          container: c.name,
          reason: `port ${p.containerPort} is marked appProtocol http (not gRPC): not published without label ${Labels.Ports}`,
        });
      else if (sidecar)
        skipped.push({
          container: c.name,
          reason:
            `port ${p.containerPort} is not published: the container is ${sidecar}, and a sidecar's port never ` +
            `goes under the service name (label it ${Labels.Service}=<name> to publish it under its own)`,
        });
      else {
        // A container labelled registrar.service is chosen by its label: its ports compete only
        // among themselves, so two containers labelled alike both publish.
        const group = c.labels[Labels.Service] === undefined ? `service:${service}` : `container:${c.name}`;
        candidates.set(group, [
          ...(candidates.get(group) ?? []),
          {
            container: c,
            service,
            containerPort: p.containerPort,
            ...(p.name ? { name: p.name } : {}),
            http2: p.appProtocol === AppProtocol.Http2,
            order: order++,
          },
        ]);
      }
    }
  }
  const declared = options.declared;
  for (const [group, all] of candidates) {
    const service = all[0]!.service;
    // The ECS service's declaration counts for the ports published under its own name only.
    const byService =
      declared && group === `service:${service}` && task.group === `service:${declared.service}` && all.length > 1
        ? all.filter((c) => declaredBy(c, declared, definition.arn))
        : [];
    if (byService.length === 1) {
      const [pick] = byService as [Candidate];
      chosen.push({
        service,
        container: pick.container.name,
        containerPort: pick.containerPort,
        rule: ChoiceRule.EcsService,
        reason: `declared by ECS service ${declared!.service}: ${declaredBy(pick, declared!, definition.arn)}`,
      });
      for (const c of all.filter((c) => c !== pick))
        skipped.push({
          container: c.container.name,
          reason: `port ${c.containerPort} is not published: ECS service ${declared!.service} declares ${where(pick.container, pick.containerPort)}`,
        });
      continue;
    }
    const list = byService.length > 1 ? byService : all;
    const [first, ...rest] = [...list].sort(rank(service, dependedOn));
    if (rest.length === 0) {
      chosen.push({
        service,
        container: first!.container.name,
        containerPort: first!.containerPort,
        rule: ChoiceRule.OnlyPort,
        reason: 'the only candidate TCP port of the service',
      });
      continue;
    }
    const fix =
      `mark the gRPC port mapping appProtocol: "grpc" (or label the container ${Labels.Ports}=<port>; ` +
      `label sidecars ${Labels.Skip}=true)`;
    ambiguities.push({
      service,
      chosen: where(first!.container, first!.containerPort),
      candidates: [first!, ...rest].map((c) => where(c.container, c.containerPort)),
      fix,
    });
    chosen.push({
      service,
      container: first!.container.name,
      containerPort: first!.containerPort,
      rule: ChoiceRule.Ambiguous,
      reason:
        `guessed among ${rest.length + 1} unmarked TCP ports (${[first!, ...rest].map((c) => where(c.container, c.containerPort)).join(', ')}): ` +
        `ranked first (http2 mark, container named like the service, not a dependency of another container, ` +
        `task definition order); ${fix}`,
    });
    for (const c of [...rest, ...all.filter((c) => !list.includes(c))])
      skipped.push({
        container: c.container.name,
        reason: `port ${c.containerPort} is not published: ${where(first!.container, first!.containerPort)} was chosen for ${service} (ambiguous; ${fix})`,
      });
  }
  return { considered: live.map((c) => c.name), chosen, skipped, ambiguities };
}
