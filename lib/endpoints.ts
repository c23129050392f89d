/**
 * Pure: which endpoints a task publishes, from the task (event or DescribeTasks), its task
 * definition and, for bridge/host networking, the container instance's addresses.
 *
 * Which ports and names: {@link selectPorts} (lib/port-selection.ts) decides from the task
 * definition alone; this file adds the addresses (ENI or container instance, in the configured
 * family) and the ports clients dial (host ports in bridge mode), and leaves out containers that
 * are not running.
 */
import { AddressFamily, assertDialableIpv4, assertDialableIpv6, chooseAddress, type TaskAddresses } from './address';
import type { TaskSnapshot } from './ecs/task';
import type { ServiceDeclaration } from './ecs/service-declaration';
import type { ContainerDefinitionInfo, PortMapping, TaskDefinitionInfo } from './ecs/task-definition';
import { InvalidEventError, MissingNetworkInfo } from './errors';
import type { Endpoint } from './keys';
import { selectPorts, type Ambiguity, type PortChoice } from './port-selection';

export { Labels } from './port-selection';

/** Most endpoints one task may publish (keeps every write within one etcd transaction). */
export const MAX_ENDPOINTS_PER_TASK = 50;

/** What a task publishes. */
export interface EndpointPlan {
  readonly endpoints: readonly Endpoint[];
  /** Containers whose health check gates publication. */
  readonly gatedContainers: readonly string[];
  /** Containers left out, with why (for logs). */
  readonly skipped: readonly { readonly container: string; readonly reason: string }[];
  /** Every chosen port (published or, its container not running, not), with the rule that chose it. */
  readonly chosen: readonly PortChoice[];
  /** Services whose port the ambiguity rule chose: logged as a WARN, counted, shown by `show` and `check`. */
  readonly ambiguities: readonly Ambiguity[];
}

/** Whether the task's addresses come from its container instance (bridge or host networking). */
export function needsHostIp(definition: Pick<TaskDefinitionInfo, 'networkMode'>): boolean {
  return definition.networkMode === 'bridge' || definition.networkMode === 'host';
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
  const single = bindings.filter(
    (b) => (b.protocol ?? 'tcp') === 'tcp' && !(b.containerPort === undefined && b.containerPortRange !== undefined),
  );
  // Docker binds each port on 0.0.0.0 and again on :: (the same host port): the IPv4 bindings,
  // else (an IPv6-only instance binds on :: alone) the IPv6 ones.
  const ipv4Bindings = single.filter((b) => !(b.bindIP ?? '').includes(':'));
  const tcpBindings = ipv4Bindings.length > 0 ? ipv4Bindings : single;
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

/** The awsvpc addresses of a container: the task's ENI, else the container's network interface. */
function awsvpcAddresses(task: TaskSnapshot, container: ContainerDefinitionInfo): TaskAddresses {
  const snapshot = task.containers.find((c) => c.name === container.name);
  const ipv4 = task.eniIpv4 ?? snapshot?.privateIpv4;
  const ipv6 = task.eniIpv6 ?? snapshot?.privateIpv6;
  return { ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) };
}

/**
 * The address a container is published at, or why none is usable (a reason, not an error: the task
 * is skipped, not retried, since no retry gives it an address of another family).
 */
function containerIp(
  task: TaskSnapshot,
  definition: TaskDefinitionInfo,
  container: ContainerDefinitionInfo,
  host: TaskAddresses | undefined,
  family: AddressFamily,
): { readonly ip: string } | { readonly reason: string } {
  if (needsHostIp(definition)) {
    if (!host?.ipv4 && !host?.ipv6)
      throw new MissingNetworkInfo(
        `the container instance's private IP is needed for ${definition.networkMode} networking`,
      );
    const chosen = chooseAddress(host, family);
    return 'ip' in chosen ? chosen : { reason: `the container instance has ${chosen.reason}` };
  }
  const addresses = awsvpcAddresses(task, container);
  if (!addresses.ipv4 && !addresses.ipv6) throw new MissingNetworkInfo('the task reports no ENI address yet');
  const chosen = chooseAddress(addresses, family);
  return 'ip' in chosen ? chosen : { reason: `the task has ${chosen.reason}` };
}

/** The container instance's addresses, validated; a bare string is an IPv4 address. */
function hostAddresses(host: string | TaskAddresses | undefined, allowLoopback: boolean): TaskAddresses | undefined {
  if (host === undefined) return undefined;
  const { ipv4, ipv6 } = typeof host === 'string' ? { ipv4: host, ipv6: undefined } : host;
  return {
    ...(ipv4 ? { ipv4: assertDialableIpv4(ipv4, 'containerInstance.privateIpAddress', allowLoopback) } : {}),
    ...(ipv6 ? { ipv6: assertDialableIpv6(ipv6, 'containerInstance.ipv6Address', allowLoopback) } : {}),
  };
}

/** Options of {@link planEndpoints}. */
export interface PlanOptions {
  /** Accept loopback addresses (`ALLOW_LOOPBACK_ENDPOINTS`, local runs only). @default false */
  readonly allowLoopback?: boolean;
  /** `ENDPOINT_ADDRESS_FAMILY`. @default "ipv4" */
  readonly addressFamily?: AddressFamily;
  /** What the task's ECS service declares (see {@link selectPorts}). @default none */
  readonly declared?: ServiceDeclaration;
}

/**
 * Works out the endpoints a task publishes and which containers gate it on health.
 *
 * @param host the container instance's addresses (bridge and host networking); a string is its IPv4 address.
 * @param reservedServices names that must not be used (e.g. the state prefix's first segment when
 *   the registry prefix is empty).
 * @throws {InvalidEventError} for unsafe names, bad labels or undialable ports and addresses.
 * @throws {MissingNetworkInfo} when the task does not (yet) carry the addresses or bindings needed.
 */
export function planEndpoints(
  task: TaskSnapshot,
  definition: TaskDefinitionInfo,
  host?: string | TaskAddresses,
  reservedServices: readonly string[] = [],
  options: PlanOptions = {},
): EndpointPlan {
  const hostIps = hostAddresses(host, options.allowLoopback ?? false);
  const family = options.addressFamily ?? AddressFamily.Ipv4;
  const selection = selectPorts(task, definition, options.declared ? { declared: options.declared } : {});
  const skipped = [...selection.skipped];
  const endpoints: Endpoint[] = [];
  const gated = new Set<string>();
  for (const container of definition.containers) {
    if (!selection.considered.includes(container.name)) continue;
    // Not running: left out, and nothing else takes its place (the choice above ignores status).
    const status = task.containers.find((c) => c.name === container.name)?.lastStatus;
    if (status !== undefined && status !== 'RUNNING') {
      skipped.push({ container: container.name, reason: `container is ${status}` });
      continue;
    }
    const ranges = tcpRanges(task, definition, container);
    for (const range of ranges)
      skipped.push({
        container: container.name,
        reason: `port range ${range} is not published (a range names no single port to dial)`,
      });
    const choices = selection.chosen.filter((c) => c.container === container.name);
    if (choices.length === 0) {
      const explained = selection.skipped.some((s) => s.container === container.name);
      if (container.portMappings.length > 0 && ranges.length === 0 && !explained)
        skipped.push({ container: container.name, reason: 'no TCP port to publish' });
      continue;
    }
    const listening = containerPorts(task, definition, container);
    const ports = listening.ports.filter((p) => choices.some((c) => c.containerPort === p.containerPort));
    if (ports.length === 0) {
      if (ranges.length === 0) skipped.push({ container: container.name, reason: 'no TCP port to publish' });
      continue;
    }
    const address = containerIp(task, definition, container, hostIps, family);
    if (!('ip' in address)) {
      skipped.push({ container: container.name, reason: address.reason });
      continue;
    }
    for (const { containerPort, port } of ports) {
      const service = choices.find((c) => c.containerPort === containerPort)!.service;
      if (reservedServices.includes(service))
        throw new InvalidEventError(
          `service name "${service}" is reserved: it is the first segment of STATE_PREFIX while REGISTRY_PREFIX is empty`,
          'service',
        );
      endpoints.push({ service, container: container.name, containerPort, ip: address.ip, port });
    }
    if (container.hasHealthCheck) gated.add(container.name);
  }
  if (endpoints.length > MAX_ENDPOINTS_PER_TASK)
    throw new InvalidEventError(
      `task publishes ${endpoints.length} endpoints; at most ${MAX_ENDPOINTS_PER_TASK} are supported`,
      'taskDefinition.containerDefinitions',
    );
  return {
    endpoints,
    gatedContainers: [...gated],
    skipped,
    chosen: selection.chosen,
    ambiguities: selection.ambiguities,
  };
}
