/**
 * All configuration, read from the environment once and validated. A bad value fails with the
 * variable's name and what was expected. The AWS SDK's own variables (`AWS_REGION`,
 * `AWS_ENDPOINT_URL_ECS`, `AWS_ENDPOINT_URL_EC2`, `AWS_MAX_ATTEMPTS`, ...) are left to the SDK.
 */
import { AddressFamily } from './address';
import {
  type Deployment,
  defaultRegistryPrefix,
  defaultStatePrefix,
  foreignReason,
  LEGACY_STATE_PREFIX,
} from './deployment';
import { isClusterArnOrName } from './ecs/arn';
import { ConfigError } from './errors';

/** How an endpoint key's value is written. */
export const ValueFormat = {
  /** `{"Op":0,"Addr":"ip:port","Metadata":"<json text>"}`, as etcd's Go endpoints manager writes it. */
  EtcdNaming: 'etcd-naming',
  /** The bare `ip:port`. */
  Addr: 'addr',
  /** `{"Name":"<service>","IP":"ip:port"}`. */
  Json: 'json',
} as const;
export type ValueFormat = (typeof ValueFormat)[keyof typeof ValueFormat];

/** How an endpoint key's last segment is written. */
export const KeyFormat = {
  /** `<prefix>/<service>/<task-id>:<port>`: unique per task, so IP reuse never collides. */
  Task: 'task',
  /** `<prefix>/<service>/<ip>:<port>`, for clients that read the address from the key. */
  Addr: 'addr',
} as const;
export type KeyFormat = (typeof KeyFormat)[keyof typeof KeyFormat];

/** The registrar's validated configuration. */
export interface Config {
  /** `ETCD_ENDPOINTS` (required): etcd client URLs. */
  readonly etcdEndpoints: readonly string[];
  /** Who this deployment is: `STAGE`, `AWS_REGION`, `ACCOUNT_ID` (see lib/deployment.ts). */
  readonly deployment: Deployment;
  /**
   * `REGISTRY_PREFIX`: endpoint keys live under `<prefix>/<service>/`. Deployments may share it
   * (one directory for clients of several regions); `/` is the root directory (keys start with the
   * service name), held here as "". Unset or empty, the default, unless the deployment adopted the
   * directory of the previous layout at its first start (lib/etcd/ownership.ts): then the processes
   * run with that one (see {@link withRegistryPrefix}).
   * @default "services/<stage>" (STAGE set), "services" (a local run)
   */
  readonly registryPrefix: string;
  /** Whether `REGISTRY_PREFIX` was set (not empty): a directory the operator chose is never replaced by an adopted one. */
  readonly registryPrefixExplicit: boolean;
  /**
   * `STATE_PREFIX`: this deployment's state namespace (task records, tombstones, marks, cursor,
   * its owner record), never under the endpoint prefix and never shared: the first deployment to
   * start owns it. @default "registrar/<stage>/<region>/<account>"
   */
  readonly statePrefix: string;
  /**
   * Where the state of the layout before owned namespaces is moved from, once (lib/etcd/migrate.ts):
   * `STATE_PREFIX` when it is set, else the old default "registrar".
   */
  readonly legacyStatePrefix: string;
  /**
   * `LEASE_TTL_SECONDS`: TTL of the one lease each task's keys hang on. At least
   * {@link MIN_LEASE_TTL_SECONDS} (three renew ticks), so keys survive two missed ticks.
   * @default 210 (three ticks plus 30 s for schedule jitter and the tick's own duration)
   */
  readonly leaseTtlSeconds: number;
  /** `TOMBSTONE_TTL_SECONDS`: how long a stopped task is remembered. @default 86400 (EventBridge retries for 24 h) */
  readonly tombstoneTtlSeconds: number;
  /**
   * `EVENT_CONFIRM_AGE_SECONDS`: a RUNNING event older than this (by its EventBridge `time`: a
   * dead-letter replay, a late retry) is confirmed with ECS (DescribeTasks) before anything is
   * written, because the tombstone of a task that stopped since may have expired. At most half of
   * `TOMBSTONE_TTL_SECONDS`, so every younger event still meets the tombstone of a handled stop.
   * @default 600
   */
  readonly eventConfirmAgeSeconds: number;
  /** `VALUE_FORMAT`. @default "etcd-naming" */
  readonly valueFormat: ValueFormat;
  /** `KEY_FORMAT`. @default "task" */
  readonly keyFormat: KeyFormat;
  /**
   * `CLUSTERS`: clusters renew reconciles with ListTasks; empty means the clusters of registered tasks.
   * Names become ARNs of the deployment's account and region; an ARN of another is refused. @default []
   */
  readonly clusters: readonly string[];
  /** `ETCD_TIMEOUT_MS`: deadline of one etcd call (also capped by the invocation's remaining time). @default 5000 */
  readonly etcdTimeoutMs: number;
  /** `RENEW_CONCURRENCY`: keepalives and task repairs in flight at once during renew. @default 64 */
  readonly renewConcurrency: number;
  /**
   * `ORPHAN_GRACE_SECONDS`: a lease of this deployment holding no key is revoked by renew once it
   * was neither renewed nor granted for longer than this. A register grants its lease before
   * writing on it, so this must exceed the longest invocation of the event functions (20 s).
   * @default 30
   */
  readonly orphanGraceSeconds: number;
  /**
   * `ECS_MAX_READS_PER_SECOND`: the registrar's share of the account's ECS read budget. Every ECS
   * and EC2 read of a process (renew, reconcile, registration lookups) is paced to it, at most one
   * second's worth at once; renew verifies as many tasks per tick as it allows and slices the rest
   * across ticks. Size it at half the account's sustained read rate minus what other tools use.
   * @default 10
   */
  readonly ecsMaxReadsPerSecond: number;
  /** `DRY_RUN`: every function decides and logs every change it would make, and writes nothing. @default false */
  readonly dryRun: boolean;
  /**
   * `ALLOW_LOOPBACK_ENDPOINTS`: publish 127.x host addresses. Only for local runs (the demo and
   * end-to-end tests serve their "tasks" on this machine); a real task never serves others on loopback.
   * @default false
   */
  readonly allowLoopbackEndpoints: boolean;
  /**
   * `ENDPOINT_ADDRESS_FAMILY`: the address family endpoints are published in. `ipv4` and `ipv6`
   * choose for dual-stack tasks and instances (a task with one family publishes that one);
   * `ipv4-only` and `ipv6-only` skip a task without an address of the family, with the reason.
   * @default "ipv4"
   */
  readonly endpointAddressFamily: AddressFamily;
  /**
   * Where the etcd credentials come from (never from serverless.yml in plain text):
   * `ETCD_SECRET_ID` (a Secrets Manager secret), `ETCD_SSM_PARAMETER` (an SSM SecureString), or,
   * for local use, `ETCD_USERNAME` / `ETCD_PASSWORD` and `ETCD_CA_FILE` / `ETCD_CERT_FILE` /
   * `ETCD_KEY_FILE`. The secret or parameter holds JSON: `{"username","password","ca","cert","key"}`
   * (every field optional; PEM text for the last three). The password itself is never part of the config.
   */
  readonly etcdCredentials: EtcdCredentialSource;
  /**
   * `FOLLOW_QUEUE_URL`: the SQS queue of pending-task follow-ups (serverless.yml sets it). A task
   * recorded pending is re-checked with ECS through it until it is HEALTHY; unset, only renew
   * publishes pending tasks (within a tick).
   * @default undefined
   */
  readonly followQueueUrl?: string;
}

/** Where etcd credentials are read from. */
export type EtcdCredentialSource =
  | { readonly kind: 'none' }
  | { readonly kind: 'secrets-manager'; readonly secretId: string }
  | { readonly kind: 'ssm'; readonly parameter: string }
  | {
      readonly kind: 'env';
      readonly username?: string;
      readonly caFile?: string;
      readonly certFile?: string;
      readonly keyFile?: string;
    };

type Env = Readonly<Record<string, string | undefined>>;

/** The renew schedule: one tick a minute (serverless.yml). */
export const RENEW_INTERVAL_SECONDS = 60;

/**
 * Smallest `LEASE_TTL_SECONDS`: three renew ticks, so a lease renewed by one tick survives the
 * next two failing or not running. A shorter TTL lets keys expire between ordinary ticks.
 */
export const MIN_LEASE_TTL_SECONDS = 3 * RENEW_INTERVAL_SECONDS;

/**
 * Default `LEASE_TTL_SECONDS`: three ticks plus 30 s, because the third tick's keepalive does not
 * land exactly 180 s after the first: the schedule fires somewhere within its minute, and a tick
 * reads every task record before it sends keepalives.
 */
export const DEFAULT_LEASE_TTL_SECONDS = MIN_LEASE_TTL_SECONDS + 30;

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim()))
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max)
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got ${value}`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: Record<string, T>, fallback: T): T {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const values = Object.values(allowed);
  if (!(values as string[]).includes(raw))
    throw new ConfigError(name, `expected one of ${values.join(', ')}, got "${raw}"`);
  return raw as T;
}

function boolVar(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(name, `expected true or false, got "${env[name]}"`);
}

function credentialSource(env: Env): EtcdCredentialSource {
  const secretId = env.ETCD_SECRET_ID?.trim();
  const parameter = env.ETCD_SSM_PARAMETER?.trim();
  const local = ['ETCD_USERNAME', 'ETCD_PASSWORD', 'ETCD_CA_FILE', 'ETCD_CERT_FILE', 'ETCD_KEY_FILE'].filter((name) =>
    env[name]?.trim(),
  );
  if (secretId && parameter)
    throw new ConfigError('ETCD_SSM_PARAMETER', 'set either ETCD_SECRET_ID or ETCD_SSM_PARAMETER, not both');
  if ((secretId || parameter) && local.length > 0)
    throw new ConfigError(
      local[0]!,
      `credentials come from ${secretId ? 'ETCD_SECRET_ID' : 'ETCD_SSM_PARAMETER'}; do not also set ${local.join(', ')}`,
    );
  if (secretId) {
    if (!/^[A-Za-z0-9/_+=.@:-]{1,2048}$/.test(secretId))
      throw new ConfigError('ETCD_SECRET_ID', 'expected a Secrets Manager secret name or ARN');
    return { kind: 'secrets-manager', secretId };
  }
  if (parameter) {
    if (!/^(arn:[^\s]+|\/?[A-Za-z0-9/_.-]{1,2048})$/.test(parameter))
      throw new ConfigError('ETCD_SSM_PARAMETER', 'expected an SSM parameter name or ARN');
    return { kind: 'ssm', parameter };
  }
  if (local.length === 0) return { kind: 'none' };
  if (env.ETCD_PASSWORD?.trim() && !env.ETCD_USERNAME?.trim())
    throw new ConfigError('ETCD_USERNAME', 'is required when ETCD_PASSWORD is set');
  if (Boolean(env.ETCD_CERT_FILE?.trim()) !== Boolean(env.ETCD_KEY_FILE?.trim()))
    throw new ConfigError(
      env.ETCD_CERT_FILE?.trim() ? 'ETCD_KEY_FILE' : 'ETCD_CERT_FILE',
      'a client certificate needs both ETCD_CERT_FILE and ETCD_KEY_FILE',
    );
  return {
    kind: 'env',
    username: env.ETCD_USERNAME?.trim() || undefined,
    caFile: env.ETCD_CA_FILE?.trim() || undefined,
    certFile: env.ETCD_CERT_FILE?.trim() || undefined,
    keyFile: env.ETCD_KEY_FILE?.trim() || undefined,
  };
}

function leaseTtlVar(env: Env): number {
  const raw = env.LEASE_TTL_SECONDS?.trim();
  if (raw && /^\d+$/.test(raw) && Number(raw) < MIN_LEASE_TTL_SECONDS)
    throw new ConfigError(
      'LEASE_TTL_SECONDS',
      `must be at least ${MIN_LEASE_TTL_SECONDS} (three ${RENEW_INTERVAL_SECONDS} s renew ticks, ` +
        `so keys survive two missed ticks), got ${raw}`,
    );
  return intVar(env, 'LEASE_TTL_SECONDS', DEFAULT_LEASE_TTL_SECONDS, MIN_LEASE_TTL_SECONDS, 86400);
}

function eventConfirmAgeVar(env: Env, tombstoneTtlSeconds: number): number {
  const max = Math.floor(tombstoneTtlSeconds / 2);
  const raw = env.EVENT_CONFIRM_AGE_SECONDS?.trim();
  if (raw && /^\d+$/.test(raw) && Number(raw) > max)
    throw new ConfigError(
      'EVENT_CONFIRM_AGE_SECONDS',
      `must be at most half of TOMBSTONE_TTL_SECONDS (${max}): ` +
        `an unconfirmed event must be younger than the tombstone of a stop it may follow, got ${raw}`,
    );
  return intVar(env, 'EVENT_CONFIRM_AGE_SECONDS', Math.min(600, max), 0, max);
}

function prefixVar(env: Env, name: string, fallback: string): string {
  const value = env[name] ?? fallback;
  if (CONTROL_CHARS.test(value)) throw new ConfigError(name, 'must not contain control characters');
  if (value.split('/').some((s) => s === '..' || s === '.'))
    throw new ConfigError(name, 'must not contain "." or ".." segments');
  return value;
}

function queueUrlVar(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      name,
      `"${raw}" is not a URL (expected an SQS queue URL, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/name)`,
    );
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.pathname.split('/').filter(Boolean).length !== 2)
    throw new ConfigError(
      name,
      `"${raw}" is not an SQS queue URL (expected https://sqs.<region>.amazonaws.com/<account>/<queue>)`,
    );
  return raw;
}

function endpointsVar(env: Env): string[] {
  const raw = env.ETCD_ENDPOINTS?.trim();
  if (!raw)
    throw new ConfigError(
      'ETCD_ENDPOINTS',
      'is required (comma-separated etcd client URLs, e.g. http://127.0.0.1:2379)',
    );
  const endpoints = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const endpoint of endpoints) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new ConfigError('ETCD_ENDPOINTS', `"${endpoint}" is not a URL (expected e.g. http://10.0.1.5:2379)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ConfigError('ETCD_ENDPOINTS', `"${endpoint}" must start with http:// or https://`);
    if (!url.port)
      throw new ConfigError('ETCD_ENDPOINTS', `"${endpoint}" has no port (etcd listens on 2379 by default)`);
  }
  return endpoints;
}

/** A CLUSTERS name as the ARN of that cluster in this deployment's account and region (when both are known). */
function clusterArnIn(d: Deployment, cluster: string): string {
  if (cluster.startsWith('arn:') || !d.region || !d.account || !isClusterArnOrName(cluster)) return cluster;
  const partition = d.region.startsWith('cn-') ? 'aws-cn' : d.region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
  return `arn:${partition}:ecs:${d.region}:${d.account}:cluster/${cluster}`;
}

function deploymentVar(env: Env): Deployment {
  const stage = env.STAGE?.trim() || 'local';
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(stage))
    throw new ConfigError(
      'STAGE',
      `expected 1-64 letters, digits, "-" or "_" (a Serverless stage), got "${env.STAGE}"`,
    );
  // The derived namespace is registrar/<stage>/...: a stage named like a state kind would lie in
  // the previous layout's ranges (registrar/tasks/...).
  if (['tasks', 'tombstones', 'missing', 'pending', 'clusters', 'renew', 'owner'].includes(stage))
    throw new ConfigError(
      'STAGE',
      `"${stage}" is reserved (a state key kind under registrar/): choose another stage name`,
    );
  const region = env.AWS_REGION?.trim() || undefined;
  if (region !== undefined && !/^[a-z0-9-]{1,32}$/.test(region))
    throw new ConfigError('AWS_REGION', `expected an AWS region such as eu-west-1, got "${env.AWS_REGION}"`);
  const account = env.ACCOUNT_ID?.trim() || undefined;
  if (account !== undefined && !/^\d{12}$/.test(account))
    throw new ConfigError('ACCOUNT_ID', `expected a 12-digit AWS account ID, got "${env.ACCOUNT_ID}"`);
  // On Lambda the identity must be whole: without it the namespace and the cluster checks could
  // not tell this deployment from another one on the same etcd (`serverless invoke local` sets
  // IS_LOCAL: a local run).
  if (env.AWS_LAMBDA_FUNCTION_NAME && env.IS_LOCAL !== 'true' && (!account || !region))
    throw new ConfigError(
      account ? 'AWS_REGION' : 'ACCOUNT_ID',
      'is required on Lambda (serverless.yml sets ACCOUNT_ID to ${aws:accountId}; Lambda sets AWS_REGION)',
    );
  return { stage, region, account };
}

/**
 * Reads and validates the configuration from an environment. Pure: tests pass their own env.
 *
 * @throws {ConfigError} naming the first bad variable.
 * @example
 * const config = loadConfig({ ETCD_ENDPOINTS: 'http://127.0.0.1:2379' });
 */
export function loadConfig(env: Env): Config {
  const deployment = deploymentVar(env);
  // Empty means unset for both prefixes: serverless.yml passes its params through, "" by default,
  // so only a directory the operator chose reaches REGISTRY_PREFIX. The root directory is "/".
  const registryPrefixExplicit = Boolean(env.REGISTRY_PREFIX?.trim());
  const registryPrefix =
    env.REGISTRY_PREFIX?.trim() === '/'
      ? ''
      : prefixVar(
          { REGISTRY_PREFIX: registryPrefixExplicit ? env.REGISTRY_PREFIX : undefined },
          'REGISTRY_PREFIX',
          defaultRegistryPrefix(deployment, Boolean(env.STAGE?.trim())),
        );
  const explicitState = env.STATE_PREFIX?.trim() ? env.STATE_PREFIX : undefined;
  const statePrefix = prefixVar({ STATE_PREFIX: explicitState }, 'STATE_PREFIX', defaultStatePrefix(deployment));
  checkPrefixes(registryPrefix, statePrefix);
  const tombstoneTtlSeconds = intVar(env, 'TOMBSTONE_TTL_SECONDS', 86400, 60, 7 * 86400);
  const clusters = (env.CLUSTERS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((c) => clusterArnIn(deployment, c));
  for (const cluster of clusters) {
    if (!isClusterArnOrName(cluster))
      throw new ConfigError('CLUSTERS', `"${cluster}" is neither a cluster name nor a cluster ARN`);
    const foreign = cluster.startsWith('arn:') ? foreignReason(deployment, cluster) : undefined;
    if (foreign)
      throw new ConfigError('CLUSTERS', `${foreign}: renew never asks ECS about another deployment's cluster`);
  }
  return {
    etcdEndpoints: endpointsVar(env),
    deployment,
    registryPrefix,
    registryPrefixExplicit,
    statePrefix,
    legacyStatePrefix: explicitState ? statePrefix : LEGACY_STATE_PREFIX,
    leaseTtlSeconds: leaseTtlVar(env),
    tombstoneTtlSeconds,
    eventConfirmAgeSeconds: eventConfirmAgeVar(env, tombstoneTtlSeconds),
    valueFormat: oneOf(env, 'VALUE_FORMAT', ValueFormat, ValueFormat.EtcdNaming),
    keyFormat: oneOf(env, 'KEY_FORMAT', KeyFormat, KeyFormat.Task),
    clusters,
    etcdTimeoutMs: intVar(env, 'ETCD_TIMEOUT_MS', 5000, 100, 60000),
    renewConcurrency: intVar(env, 'RENEW_CONCURRENCY', 64, 1, 1024),
    orphanGraceSeconds: intVar(env, 'ORPHAN_GRACE_SECONDS', 30, 1, 3600),
    ecsMaxReadsPerSecond: intVar(env, 'ECS_MAX_READS_PER_SECOND', 10, 1, 1000),
    dryRun: boolVar(env, 'DRY_RUN', false),
    allowLoopbackEndpoints: boolVar(env, 'ALLOW_LOOPBACK_ENDPOINTS', false),
    endpointAddressFamily: oneOf(env, 'ENDPOINT_ADDRESS_FAMILY', AddressFamily, AddressFamily.Ipv4),
    etcdCredentials: credentialSource(env),
    followQueueUrl: queueUrlVar(env, 'FOLLOW_QUEUE_URL'),
  };
}

/** Refuses a service directory and a state namespace of which one lies in the other. */
function checkPrefixes(registryPrefix: string, statePrefix: string): void {
  if (registryPrefix !== '' && (statePrefix === registryPrefix || statePrefix.startsWith(`${registryPrefix}/`)))
    throw new ConfigError(
      'STATE_PREFIX',
      `"${statePrefix}" lies under REGISTRY_PREFIX "${registryPrefix}": clients would read task records as endpoints`,
    );
  if (registryPrefix.startsWith(`${statePrefix}/`))
    throw new ConfigError('REGISTRY_PREFIX', `"${registryPrefix}" lies under STATE_PREFIX "${statePrefix}"`);
}

/**
 * The configuration a process runs with once its state namespace is claimed: the same, with the
 * service directory the deployment adopted (lib/etcd/ownership.ts) when `REGISTRY_PREFIX` is not set.
 *
 * @throws {ConfigError} when the directory and the state namespace overlap.
 */
export function withRegistryPrefix(config: Config, registryPrefix: string): Config {
  if (registryPrefix === config.registryPrefix) return config;
  checkPrefixes(registryPrefix, config.statePrefix);
  return { ...config, registryPrefix };
}

let cached: Config | undefined;

/** The process's configuration, read from `process.env` on first use and kept. */
export function getConfig(): Config {
  cached ??= loadConfig(process.env);
  return cached;
}

/** The xDS server's own settings (`ecs-etcd-registrar xds`); etcd and the prefixes come from {@link Config}. */
export interface XdsConfig {
  /** `XDS_PORT`: port the xDS (ADS) server listens on; `--port` overrides it. @default 18000 */
  readonly port: number;
  /** `XDS_HOST`: address to bind. @default "0.0.0.0" */
  readonly host: string;
  /**
   * `XDS_HEALTH_PORT`: plain HTTP `GET /healthz` on this port, 200 once the first read of etcd is
   * served and 503 before (load balancer and container health checks); 0 turns it off. @default 18001
   */
  readonly healthPort: number;
  /**
   * `XDS_TLS_CERT_FILE` and `XDS_TLS_KEY_FILE`: serve TLS with this certificate chain and key (PEM);
   * `XDS_TLS_CLIENT_CA_FILE` also requires client certificates signed by that CA. Unset: plaintext.
   * @default undefined
   */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile?: string };
}

/**
 * Reads the xDS server's settings. Pure.
 *
 * @throws {ConfigError} naming the first bad variable.
 * @example
 * const xds = loadXdsConfig({ XDS_PORT: '18000' });
 */
export function loadXdsConfig(env: Env): XdsConfig {
  const certFile = env.XDS_TLS_CERT_FILE?.trim() || undefined;
  const keyFile = env.XDS_TLS_KEY_FILE?.trim() || undefined;
  const clientCaFile = env.XDS_TLS_CLIENT_CA_FILE?.trim() || undefined;
  if (Boolean(certFile) !== Boolean(keyFile))
    throw new ConfigError(
      certFile ? 'XDS_TLS_KEY_FILE' : 'XDS_TLS_CERT_FILE',
      'TLS needs both XDS_TLS_CERT_FILE and XDS_TLS_KEY_FILE',
    );
  if (clientCaFile && !certFile)
    throw new ConfigError(
      'XDS_TLS_CLIENT_CA_FILE',
      'client certificates need TLS: set XDS_TLS_CERT_FILE and XDS_TLS_KEY_FILE too',
    );
  const host = env.XDS_HOST?.trim() || '0.0.0.0';
  if (!/^[A-Za-z0-9.:[\]-]{1,253}$/.test(host))
    throw new ConfigError('XDS_HOST', `expected an address to bind, got "${host}"`);
  const port = intVar(env, 'XDS_PORT', 18000, 0, 65535);
  const healthPort = intVar(env, 'XDS_HEALTH_PORT', 18001, 0, 65535);
  if (healthPort !== 0 && healthPort === port)
    throw new ConfigError(
      'XDS_HEALTH_PORT',
      `is ${healthPort}, the port xDS itself listens on (XDS_PORT or --port): choose another, or 0 to turn it off`,
    );
  return {
    port,
    host,
    healthPort,
    ...(certFile && keyFile ? { tls: { certFile, keyFile, ...(clientCaFile ? { clientCaFile } : {}) } } : {}),
  };
}
