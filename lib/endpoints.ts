/**
 * Pure: which endpoints a task publishes, from the task (event or DescribeTasks), its task
 * definition and, for bridge/host networking, the container instance's private IP.
 *
 * Naming rule: a container is published under its `registrar.service` docker label, else the ECS
 * service (`group` = `service:NAME`), else the task definition family. A service name that gets
 * one container port is published as `<service>`; one that gets several ports publishes each as
 * `<service>-<containerPort>`.
 */
import type { TaskSnapshot } from './ecs/event';
import type { ContainerDefinitionInfo, PortMapping, TaskDefinitionInfo } from './ecs/task-definition';
import { InvalidEventError, MissingNetworkInfo } from './errors';
import { assertDialableIpv4, assertSegment, type Endpoint } from './keys';

/** Docker labels that steer registration. */
export const Labels = {
  /** Service name to publish the container under. */
  Service: 'registrar.service',
  /** Comma list of container ports to publish (default: every TCP port). */
  Ports: 'registrar.ports',
  /** `true` skips the container. */
  Skip: 'registrar.skip',
} as const;

/** Most endpoints one task may publish (keeps every write within one etcd transaction). */
export const MAX_ENDPOINTS_PER_TASK = 50;

/** What a task publishes. */
export interface EndpointPlan {
  readonly endpoints: readonly Endpoint[];
  /** Containers whose health check gates publication. */
  readonly gatedContainers: readonly string[];
  /** Containers left out, with why (for logs). */
  readonly skipped: readonly { readonly container: string; readonly reason: string }[];
}

/** Whether the task's addresses come from its container instance (bridge or host networking). */
export function needsHostIp(definition: Pick<TaskDefinitionInfo, 'networkMode'>): boolean {
  return definition.networkMode === 'bridge' || definition.networkMode === 'host';
}

function labelPath(container: string, label: string): string {
  return `taskDefinition.containerDefinitions[${container}].dockerLabels["${label}"]`;
}

function allowedPorts(def: ContainerDefinitionInfo): Set<number> | undefined {
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

function baseServiceName(
  task: TaskSnapshot,
  definition: TaskDefinitionInfo,
  container: ContainerDefinitionInfo,
): string {
  const label = container.labels[Labels.Service];
  if (label !== undefined) return assertSegment(label, labelPath(container.name, Labels.Service));
  const group = task.group ?? '';
  if (group.startsWith('service:')) return assertSegment(group.slice('service:'.length), 'detail.group');
  if (group.startsWith('family:')) return assertSegment(group.slice('family:'.length), 'detail.group');
  return assertSegment(definition.family, 'taskDefinition.family');
}

function checkPort(port: number | undefined, what: string): number {
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new InvalidEventError(`port ${String(port)} is not a dialable port (1-65535)`, what);
  return port;
}

/** The container's TCP port mappings, each port checked: a task definition is input too. */
function tcpMappings(container: ContainerDefinitionInfo): PortMapping[] {
  const path = `taskDefinition.containerDefinitions[${container.name}].portMappings`;
  return container.portMappings
    .filter((p) => p.protocol === 'tcp')
    .map((p) => ({
      protocol: p.protocol,
      containerPort: checkPort(p.containerPort, `${path}.containerPort`),
      hostPort: p.hostPort === undefined ? undefined : checkPort(p.hostPort, `${path}.hostPort`),
    }));
}

/** A checked `"<first>-<last>"` port range: both ends dialable, first not above last. */
function checkRange(range: string, what: string): string {
  const [first, last] = range.split('-').map(Number) as [number, number];
  if (!/^\d{1,5}-\d{1,5}$/.test(range) || !(first >= 1 && last <= 65535 && first <= last))
    throw new InvalidEventError(
      `${JSON.stringify(range.slice(0, 32))} is not a port range (<first>-<last>, 1-65535, first not above last)`,
      what,
    );
  return range;
}

/** The ports a container listens on, and the TCP port ranges it maps (never published). */
interface ContainerPorts {
  /** (containerPort, dialPort) pairs, for the task's network mode. */
  readonly ports: { containerPort: number; port: number }[];
  /** Each TCP port range, described for the plan's `skipped`. */
  readonly ranges: string[];
}

/**
 * The container's port ranges. A range names no single port to dial, and publishing every port
 * of it would flood a service directory, so ranges are reported, not published.
 */
function tcpRanges(task: TaskSnapshot, definition: TaskDefinitionInfo, container: ContainerDefinitionInfo): string[] {
  const mapped = (container.portRanges ?? []).map((r) => ({
    ...r,
    range: checkRange(
      r.containerPortRange,
      `taskDefinition.containerDefinitions[${container.name}].portMappings.containerPortRange`,
    ),
  }));
  if (definition.networkMode === 'awsvpc') return mapped.filter((r) => r.protocol === 'tcp').map((r) => r.range);
  const path = `detail.containers[${container.name}].networkBindings`;
  const bound = (task.containers.find((c) => c.name === container.name)?.networkBindings ?? [])
    .filter((b) => b.containerPort === undefined && b.containerPortRange !== undefined)
    .map((b) => ({
      protocol: b.protocol ?? 'tcp',
      ipv6: (b.bindIP ?? '').includes(':'),
      range: checkRange(b.containerPortRange!, `${path}.containerPortRange`),
      host: b.hostPortRange === undefined ? undefined : checkRange(b.hostPortRange, `${path}.hostPortRange`),
    }));
  if (bound.length === 0) return mapped.filter((r) => r.protocol === 'tcp').map((r) => r.range);
  const described = bound
    .filter((b) => b.protocol === 'tcp' && !b.ipv6)
    .map((b) => (b.host ? `${b.range} (host ${b.host})` : b.range));
  return [...new Set(described)];
}

/** What a container listens on, for the task's network mode. */
function containerPorts(
  task: TaskSnapshot,
  definition: TaskDefinitionInfo,
  container: ContainerDefinitionInfo,
): ContainerPorts {
  const ranges = tcpRanges(task, definition, container);
  const mappings = tcpMappings(container);
  if (definition.networkMode === 'awsvpc')
    return { ports: mappings.map((p) => ({ containerPort: p.containerPort, port: p.containerPort })), ranges };
  const bindings = task.containers.find((c) => c.name === container.name)?.networkBindings ?? [];
  const tcpBindings = bindings.filter(
    (b) =>
      (b.protocol ?? 'tcp') === 'tcp' &&
      !(b.bindIP ?? '').includes(':') &&
      !(b.containerPort === undefined && b.containerPortRange !== undefined),
  );
  if (tcpBindings.length > 0) {
    const seen = new Map<string, { containerPort: number; port: number }>();
    for (const b of tcpBindings) {
      const containerPort = checkPort(
        b.containerPort,
        `detail.containers[${container.name}].networkBindings.containerPort`,
      );
      const port = checkPort(b.hostPort, `detail.containers[${container.name}].networkBindings.hostPort`);
      seen.set(`${containerPort}/${port}`, { containerPort, port });
    }
    return { ports: [...seen.values()], ranges };
  }
  if (mappings.length === 0) return { ports: [], ranges };
  if (definition.networkMode === 'host')
    return {
      ports: mappings.map((p) => ({ containerPort: p.containerPort, port: p.hostPort ?? p.containerPort })),
      ranges,
    };
  // Bridge mode without bindings: only static host ports are knowable.
  if (mappings.every((p) => p.hostPort))
    return { ports: mappings.map((p) => ({ containerPort: p.containerPort, port: p.hostPort! })), ranges };
  throw new MissingNetworkInfo(
    `container ${container.name} uses dynamic host ports but the task reports no network bindings`,
  );
}

function containerIp(
  task: TaskSnapshot,
  definition: TaskDefinitionInfo,
  container: ContainerDefinitionInfo,
  hostIp: string | undefined,
  allowLoopback: boolean,
): string {
  if (needsHostIp(definition)) {
    if (!hostIp)
      throw new MissingNetworkInfo(
        `the container instance's private IP is needed for ${definition.networkMode} networking`,
      );
    return hostIp;
  }
  const ip = task.eniIpv4 ?? task.containers.find((c) => c.name === container.name)?.privateIpv4;
  if (!ip) throw new MissingNetworkInfo('the task reports no ENI address yet');
  return assertDialableIpv4(ip, 'detail.attachments.privateIPv4Address', allowLoopback);
}

/**
 * Works out the endpoints a task publishes and which containers gate it on health.
 *
 * @param reservedServices names that must not be used (e.g. the state prefix's first segment when
 *   the registry prefix is empty).
 * @param options.allowLoopback accept 127/8 addresses (`ALLOW_LOOPBACK_ENDPOINTS`, local runs only).
 * @throws {InvalidEventError} for unsafe names, bad labels or undialable ports.
 * @throws {MissingNetworkInfo} when the task does not (yet) carry the addresses or bindings needed.
 */
export function planEndpoints(
  task: TaskSnapshot,
  definition: TaskDefinitionInfo,
  hostIp?: string,
  reservedServices: readonly string[] = [],
  options: { readonly allowLoopback?: boolean } = {},
): EndpointPlan {
  if (hostIp !== undefined) assertDialableIpv4(hostIp, 'containerInstance.privateIpAddress', options.allowLoopback);
  const skipped: { container: string; reason: string }[] = [];
  const raw: (Omit<Endpoint, 'service'> & { base: string; hasHealthCheck: boolean })[] = [];
  for (const container of definition.containers) {
    if (container.labels[Labels.Skip] === 'true') {
      skipped.push({ container: container.name, reason: `label ${Labels.Skip}=true` });
      continue;
    }
    const status = task.containers.find((c) => c.name === container.name)?.lastStatus;
    if (status !== undefined && status !== 'RUNNING') {
      skipped.push({ container: container.name, reason: `container is ${status}` });
      continue;
    }
    const only = allowedPorts(container);
    const listening = containerPorts(task, definition, container);
    for (const range of listening.ranges)
      skipped.push({
        container: container.name,
        reason: `port range ${range} is not published (a range names no single port to dial)`,
      });
    const ports = listening.ports.filter((p) => !only || only.has(p.containerPort));
    if (ports.length === 0) {
      if ((container.portMappings.length > 0 || only) && listening.ranges.length === 0)
        skipped.push({ container: container.name, reason: 'no TCP port to publish' });
      continue;
    }
    const base = baseServiceName(task, definition, container);
    const ip = containerIp(task, definition, container, hostIp, options.allowLoopback ?? false);
    for (const { containerPort, port } of ports)
      raw.push({ base, container: container.name, containerPort, ip, port, hasHealthCheck: container.hasHealthCheck });
  }
  const portsPerService = new Map<string, Set<number>>();
  for (const e of raw) portsPerService.set(e.base, (portsPerService.get(e.base) ?? new Set()).add(e.containerPort));
  const endpoints: Endpoint[] = raw.map(({ base, hasHealthCheck: _, ...e }) => {
    const service = portsPerService.get(base)!.size > 1 ? assertSegment(`${base}-${e.containerPort}`, 'service') : base;
    if (reservedServices.includes(service))
      throw new InvalidEventError(
        `service name "${service}" is reserved: it is the first segment of STATE_PREFIX while REGISTRY_PREFIX is empty`,
        'service',
      );
    return { service, ...e };
  });
  if (endpoints.length > MAX_ENDPOINTS_PER_TASK)
    throw new InvalidEventError(
      `task publishes ${endpoints.length} endpoints; at most ${MAX_ENDPOINTS_PER_TASK} are supported`,
      'taskDefinition.containerDefinitions',
    );
  const gatedContainers = [...new Set(raw.filter((e) => e.hasHealthCheck).map((e) => e.container))];
  return { endpoints, gatedContainers, skipped };
}
