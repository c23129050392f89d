/**
 * What the benchmarks share: fixtures, cheap synthetic tasks, the built bundles, a local ECS
 * endpoint in its own process (so serving DescribeTasks answers does not compete with the code
 * measured), and statistics.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Etcd3 } from 'etcd3';
import { startLocalEtcd } from '../scripts/local-etcd';

export type Json = Record<string, any>;

export const root = join(import.meta.dirname, '..');
/** Where `npm run bench` builds the bundles it measures (as `npm run build` does). */
export const distDir = join(root, 'dist');

const sample = JSON.parse(readFileSync(join(root, 'test/fixtures/events/fargate-awsvpc-running-ecs-devguide.json'), 'utf8')) as Json;

/** Name of the cluster of task `n` among `clusters` (one: the sample's FargateCluster). */
export function benchCluster(n: number, clusters = 1): string {
  return clusters === 1 ? 'FargateCluster' : `scale-${String(n % clusters).padStart(2, '0')}`;
}

/**
 * The Fargate sample as task `n` of the sample cluster (or, with `clusters`, of cluster
 * {@link benchCluster}): own id and ENI address, RUNNING/RUNNING. Nested objects not specific to
 * the task are shared, so 100,000 of them fit in memory.
 */
export function benchEvent(n: number, clusters = 1): Json {
  const id = n.toString(16).padStart(32, '0');
  const cluster = benchCluster(n, clusters);
  const taskArn = `arn:aws:ecs:us-west-2:111122223333:task/${cluster}/${id}`;
  const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  const [container] = sample.detail.containers as Json[];
  return {
    ...sample,
    id: `bench-${id}`,
    time: new Date().toISOString(),
    resources: [taskArn],
    detail: {
      ...sample.detail,
      taskArn,
      ...(clusters === 1 ? {} : { clusterArn: `arn:aws:ecs:us-west-2:111122223333:cluster/${cluster}` }),
      attachments: [{ id: `eni-${id}`, type: 'eni', status: 'ATTACHED', details: [{ name: 'privateIPv4Address', value: ip }] }],
      containers: [{ ...container, taskArn, networkInterfaces: [{ privateIpv4Address: ip }] }],
    },
  };
}

/** A Lambda context with `remainingMs` left. */
export function lambdaContext(functionName: string, remainingMs = 30_000): Json {
  const deadline = Date.now() + remainingMs;
  return { functionName, awsRequestId: `bench-${functionName}`, getRemainingTimeInMillis: () => deadline - Date.now() };
}

type Handler = (event: unknown, context: unknown) => Promise<any>;

/** The exported handler of a built bundle (`dist/<name>/index.mjs`). */
export async function loadBundle(name: string): Promise<Handler> {
  return ((await import(pathToFileURL(join(distDir, name, 'index.mjs')).href)) as { handler: Handler }).handler;
}

/** A local ECS endpoint (scripts/local-aws.ts) running in a child process. */
export interface EcsEndpoint {
  /** `AWS_*` variables that point the SDK at it. */
  readonly env: Record<string, string>;
  /** Makes it know the tasks `benchEvent(from)` … `benchEvent(to - 1)`, running (spread over `clusters`). */
  addTasks(from: number, to: number, clusters?: number): Promise<void>;
  /** Calls answered so far, by operation. */
  counts(): Promise<Record<string, number>>;
  /** Calls refused by throttling so far, by operation. */
  throttled(): Promise<Record<string, number>>;
  /** Throttles like ECS (a bucket per action), or stops throttling. */
  throttle(throttle: { capacity: number; refillPerSecond: number } | undefined): Promise<void>;
  /** Changes a task (e.g. stops it without any event). */
  updateTask(taskArn: string, changes: Json): Promise<void>;
  stop(): void;
}

export async function startEcsEndpoint(): Promise<EcsEndpoint> {
  const child: ChildProcess = fork(join(import.meta.dirname, 'ecs-endpoint.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let waiting: ((message: Json) => void)[] = [];
  child.on('message', (message: Json) => waiting.shift()?.(message));
  const ask = (message: Json) =>
    new Promise<Json>((resolve) => {
      waiting.push(resolve);
      child.send(message);
    });
  const { env } = await ask({ start: true });
  return {
    env,
    addTasks: async (from, to, clusters) => void (await ask({ add: [from, to], clusters })),
    counts: async () => (await ask({ counts: true })).counts,
    throttled: async () => (await ask({ counts: true })).throttled,
    throttle: async (throttle) => void (await ask({ throttle: throttle ?? null })),
    updateTask: async (taskArn, changes) => void (await ask({ update: [taskArn, changes] })),
    stop: () => {
      waiting = [];
      child.kill();
    },
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Rounds for printing: `digits` after the point. */
export const round = (value: number, digits = 2) => Number(value.toFixed(digits));

/** A function's bundle wired to its own local etcd and ECS endpoint, and a raw etcd3 client for floors. */
export interface FunctionBench {
  readonly handler: Handler;
  readonly context: Json;
  readonly raw: Etcd3;
  close(): Promise<void>;
}

/**
 * Starts a local etcd and ECS endpoint and loads a function's bundle configured for them. Logs
 * (below WARN) and metrics are stdout writes, not round trips: they are kept out of comparisons.
 */
export async function benchFunction(name: string): Promise<FunctionBench> {
  const etcd = await startLocalEtcd();
  const ecs = await startEcsEndpoint();
  Object.assign(process.env, ecs.env, { ETCD_ENDPOINTS: etcd.endpoint, POWERTOOLS_LOG_LEVEL: 'WARN', POWERTOOLS_METRICS_DISABLED: 'true' });
  const raw = new Etcd3({ hosts: etcd.endpoint });
  return {
    handler: await loadBundle(name),
    context: lambdaContext(name, 600_000),
    raw,
    close: async () => {
      raw.close();
      ecs.stop();
      await etcd.stop();
    },
  };
}

/** The floor of one registration: the raw client's lease grant, then a transactional put of `key` on it. */
export async function rawGrantAndPut(raw: Etcd3, key: string): Promise<void> {
  const lease = await raw.leaseClient.leaseGrant({ TTL: 180 });
  await raw.if(key, 'Create', '==', 0).then(raw.put(key).value('{"Op":0,"Addr":"10.0.0.1:50051"}').lease(lease.ID)).commit();
}

