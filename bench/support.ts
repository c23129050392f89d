/**
 * What the benchmarks share: how they build synthetic tasks, the built bundles, a local ECS
 * endpoint in its own process (so serving DescribeTasks answers does not compete with the code
 * measured), and statistics.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { Etcd3 } from 'etcd3';
import { loadConfig } from '../lib/config';
import { AwsEcsReader } from '../lib/ecs/api';
import { loadEc2 } from '../lib/ecs/ec2-loader';
import { createEtcdClient } from '../lib/etcd/client';
import { Registry } from '../lib/etcd/registry';
import type { Log } from '../lib/log';
import { Registrar } from '../lib/registrar';
import { lambdaContext } from '../test/kit/lambda';
import { startLocalEtcd } from '../test/kit/local-etcd';

export type Json = Record<string, any>;

export const root = join(import.meta.dirname, '..');
/** Where `npm run bench` builds the bundles it measures (as `npm run build` does). */
export const distDir = join(root, 'dist');

/**
 * How the benchmarks build task `n` with `fargateEvent` (test/kit/events.ts): nested objects shared with the
 * sample (100,000 events fit in memory) and the same ids in every process (the ECS endpoint
 * process builds the tasks the measured process registers).
 */
export const BENCH_EVENT = { salt: '', shared: true } as const;

type Handler = (event: unknown, context: unknown) => Promise<any>;

/** The exported handler of a built bundle (`dist/<name>/index.mjs`). */
export async function loadBundle(name: string): Promise<Handler> {
  return ((await import(pathToFileURL(join(distDir, name, 'index.mjs')).href)) as { handler: Handler }).handler;
}

/** A local ECS endpoint (test/kit/local-aws.ts) running in a child process. */
export interface EcsEndpoint {
  /** `AWS_*` variables that point the SDK at it. */
  readonly env: Record<string, string>;
  /** Makes it know the tasks {@link BENCH_EVENT} `from` … `to - 1`, running (spread over `clusters`). */
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
  const child: ChildProcess = fork(join(import.meta.dirname, 'ecs-endpoint.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
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
  readonly context: Context;
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
  Object.assign(process.env, ecs.env, {
    ETCD_ENDPOINTS: etcd.endpoint,
    POWERTOOLS_LOG_LEVEL: 'WARN',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
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
  await raw
    .if(key, 'Create', '==', 0)
    .then(raw.put(key).value('{"Op":0,"Addr":"10.0.0.1:50051"}').lease(lease.ID))
    .commit();
}

/**
 * A registrar wired from `process.env` as the functions wire theirs (the registry on the
 * configured etcd, the ECS reader with its EC2 lookup), for a bench's setup and its in-process
 * ticks. Close `client` when done.
 */
export function registrarFromEnv(log: Log) {
  const config = loadConfig(process.env);
  const client = createEtcdClient(config);
  const registrar = new Registrar({
    config,
    etcd: client,
    registry: new Registry(client, config),
    ecs: new AwsEcsReader(undefined, { ec2: loadEc2 }),
    log,
  });
  return { config, client, registrar };
}
