/**
 * Pure key layout and value formats. Everything that becomes part of a key passes
 * {@link assertSegment} first: no label or event field is trusted to be a safe path segment.
 */
import { hostPort } from './address';
import { KeyFormat, ValueFormat, type Config } from './config';
import { clusterNameOfSegment, clusterSegment, isLegacySegment } from './deployment';
import { InvalidEventError } from './errors';

/** One dialable endpoint of one task. */
export interface Endpoint {
  /** Service name clients resolve (`<prefix>/<service>/`). */
  readonly service: string;
  /** Container that listens. */
  readonly container: string;
  /** Port inside the container (from the task definition or the binding). */
  readonly containerPort: number;
  /** Address clients dial: IPv4, or IPv6 in canonical form (written `[ip]:port`, see {@link hostPort}). */
  readonly ip: string;
  /** Port clients dial (the host port in bridge mode). */
  readonly port: number;
}

/** Facts about the task written into an endpoint's metadata. */
export interface EndpointMetadata {
  readonly taskArn: string;
  readonly cluster: string;
  readonly availabilityZone?: string;
  readonly taskDefinition: string;
  readonly container: string;
  readonly version: number;
  readonly startedAt?: string;
  readonly launchType?: string;
}

/** A service name: ASCII letters, digits, `.`, `_`, `-`; starts with a letter or digit; at most 255. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** A value quoted for an error message, cut short. */
const shown = (value: string) => JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);

/**
 * Checks that a value is safe as one key segment (no `/`, `..`, control or non-ASCII characters).
 *
 * @throws {InvalidEventError} naming `what` and the offending value.
 */
export function assertSegment(value: string, what: string): string {
  if (!SEGMENT.test(value) || value.includes('..'))
    throw new InvalidEventError(
      `${shown(value)} is not a valid name: ` +
        'use 1-255 ASCII letters, digits, ".", "_" or "-", starting with a letter or digit, without ".."',
      what,
    );
  return value;
}

/** The prefix clients watch for one service, with its trailing slash. */
export function serviceDirectory(registryPrefix: string, service: string): string {
  return registryPrefix === '' ? `${service}/` : `${registryPrefix}/${service}/`;
}

/** The endpoint key of one endpoint of one task. */
export function endpointKey(
  config: Pick<Config, 'registryPrefix' | 'keyFormat'>,
  taskId: string,
  endpoint: Endpoint,
): string {
  // An IPv6 address is written bracketed (`[2600:1f18::1]:50051`): colons and brackets are not `/`,
  // so the last segment stays one segment, and the canonical form makes one address one key.
  const last =
    config.keyFormat === KeyFormat.Addr ? hostPort(endpoint.ip, endpoint.port) : `${taskId}:${endpoint.port}`;
  return serviceDirectory(config.registryPrefix, endpoint.service) + last;
}

/** The value of an endpoint key, in the configured format. */
export function endpointValue(format: ValueFormat, endpoint: Endpoint, metadata: EndpointMetadata): string {
  const addr = hostPort(endpoint.ip, endpoint.port);
  switch (format) {
    case ValueFormat.Addr:
      return addr;
    case ValueFormat.Json:
      return JSON.stringify({ Name: endpoint.service, IP: addr });
    case ValueFormat.EtcdNaming:
      // Metadata is a JSON *string*: etcd's Go resolver hands it to grpc-go, whose balancer
      // uses it as a map key and panics on a decoded object.
      return JSON.stringify({ Op: 0, Addr: addr, Metadata: JSON.stringify(metadata) });
  }
}

/**
 * Where the registrar keeps the record of one task: `<state>/tasks/<account>.<region>.<cluster>/<task-id>`
 * (the cluster's whole identity, {@link clusterSegment}, never its name alone).
 */
export function recordKey(statePrefix: string, clusterArn: string, taskId: string): string {
  return `${statePrefix}/tasks/${clusterSegment(clusterArn)}/${taskId}`;
}

/** Prefix of all task records. */
export function recordsPrefix(statePrefix: string): string {
  return `${statePrefix}/tasks/`;
}

/** Where the registrar remembers that a task stopped. */
export function tombstoneKey(statePrefix: string, clusterArn: string, taskId: string): string {
  return `${statePrefix}/tombstones/${clusterSegment(clusterArn)}/${taskId}`;
}

/**
 * Where a pending (health-gated) task is listed under each service it will publish, so a drain
 * finds the pending tasks of one service with one range read. On the task's lease.
 */
export function pendingKey(statePrefix: string, service: string, clusterArn: string, taskId: string): string {
  return `${pendingPrefix(statePrefix, service)}${clusterSegment(clusterArn)}/${taskId}`;
}

/** Prefix of the pending tasks of one service (with its trailing slash: `api` is not `api-admin`). */
export function pendingPrefix(statePrefix: string, service: string): string {
  return `${statePrefix}/pending/${service}/`;
}

/** The service of an endpoint key (`<prefix>/<service>/<last>`), or undefined for a key outside the prefix. */
export function serviceOfEndpointKey(registryPrefix: string, key: string): string | undefined {
  const head = registryPrefix === '' ? '' : `${registryPrefix}/`;
  if (!key.startsWith(head)) return undefined;
  const parts = key.slice(head.length).split('/');
  return parts.length === 2 && parts[0] ? parts[0] : undefined;
}

/** Where renew marks a task ECS answered MISSING for, until a later tick confirms or clears it. */
export function missingKey(statePrefix: string, clusterArn: string, taskId: string): string {
  return `${statePrefix}/missing/${clusterSegment(clusterArn)}/${taskId}`;
}

/** Prefix of all MISSING marks. */
export function missingPrefix(statePrefix: string): string {
  return `${statePrefix}/missing/`;
}

/** Prefix of all tombstones. */
export function tombstonesPrefix(statePrefix: string): string {
  return `${statePrefix}/tombstones/`;
}

/** Where renew keeps its verification cursor between ticks (no lease: it outlives every task). */
export function renewCursorKey(statePrefix: string): string {
  return `${statePrefix}/renew/cursor`;
}

/** Key under which a cluster served by the registrar is remembered (no lease: it outlives every task). */
export function clusterKey(statePrefix: string, clusterArn: string): string {
  return `${clustersPrefix(statePrefix)}${clusterSegment(clusterArn)}`;
}

/** The owner record of a state namespace (who claimed it: stage, region, account; no lease). */
export function ownerKey(statePrefix: string): string {
  return `${statePrefix}/owner`;
}

/** Prefix of the clusters the registrar has registered tasks in. */
export function clustersPrefix(statePrefix: string): string {
  return `${statePrefix}/clusters/`;
}

/**
 * Cluster and task ID from a per-task state key (`<state-prefix>/<kind>/<cluster-segment>/<task-id>`:
 * a record, tombstone, MISSING mark or pending listing). `legacy` is true for a key of the layout
 * before the segment carried the account and region (a bare cluster name).
 */
export function stateKeyParts(key: string): {
  clusterSegment: string;
  clusterName: string;
  taskId: string;
  legacy: boolean;
} {
  const parts = key.split('/');
  const segment = parts[parts.length - 2] ?? '';
  return {
    clusterSegment: segment,
    clusterName: clusterNameOfSegment(segment),
    taskId: parts[parts.length - 1] ?? '',
    legacy: isLegacySegment(segment),
  };
}
