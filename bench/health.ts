/**
 * Health-checked tasks: how long from ECS reporting a task HEALTHY to its endpoint key in etcd
 * (routable), and how many ECS reads that costs per pending task, with ECS's default health check
 * timing (30 s interval, 5 s timeout, 3 retries: the follow-up checks every 3 s).
 *
 * Everything runs on the local platform in this process: a local etcd, the local ECS endpoint with
 * its follow queue, and the built register, deregister and follow bundles, the queue's due messages
 * delivered to follow as SQS events (batches of up to 100 gathered for up to 1 s, as the event
 * source in serverless.yml does). Tasks are declared started 28 s ago, so
 * their first check (one interval after start) falls due within seconds and the run measures the
 * 3 s cadence, not the wait for the first probe.
 *
 * - `health_checked_routable`: 50 tasks turn HEALTHY at random moments over 15 s; nothing stops
 *   (only the follow-up publishes them).
 * - `health_checked_rolling_deploy_200`: a rolling deploy of 200 → 200 tasks of one service: each
 *   new task turns HEALTHY at a random moment over 10 s and ECS stops one old task right after
 *   (deregister's drain check publishes HEALTHY replacements before the delete).
 *
 *   npm run bench -- health
 */
import { Etcd3 } from 'etcd3';
import pLimit from 'p-limit';
import { checkedTask, putCheckedDefinition, type CheckedTask } from '../test/kit/health-checked';
import { lambdaContext } from '../test/kit/lambda';
import { LocalAws } from '../test/kit/local-aws';
import { startLocalEtcd } from '../test/kit/local-etcd';
import { consumeQueue } from '../test/kit/local-sqs';
import { mulberry32 } from '../test/kit/random';
import { BENCH_EVENT, type Json, loadBundle, median, percentile, round } from './support';

const DEFINITION = 'arn:aws:ecs:us-west-2:111122223333:task-definition/bench-checked:1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Platform {
  readonly aws: LocalAws;
  readonly raw: Etcd3;
  readonly register: (event: unknown, context: unknown) => Promise<any>;
  readonly deregister: (event: unknown, context: unknown) => Promise<any>;
  /** Epoch of the first Put of each task id under `services/`, and the count per service after every revision. */
  readonly publishedAt: Map<string, number>;
  readonly counts: Map<string, number[]>;
  close(): Promise<void>;
}

async function startPlatform(): Promise<Platform> {
  const etcd = await startLocalEtcd();
  const aws = (await new LocalAws().start()).putSampleTaskDefinitions();
  // No timing given: ECS's defaults (30 s interval, 5 s timeout, 3 retries, no start period).
  putCheckedDefinition(aws, { arn: DEFINITION, family: 'bench-checked', timing: 'ecs-defaults' });
  const deadLetter = aws.createQueue('follow-dlq');
  const queue = aws.createQueue('follow', { deadLetter, maxReceiveCount: 3, visibilityTimeoutMs: 5000 });
  Object.assign(process.env, aws.sdkEnv(), {
    ETCD_ENDPOINTS: etcd.endpoint,
    FOLLOW_QUEUE_URL: queue,
    POWERTOOLS_LOG_LEVEL: 'WARN',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  const raw = new Etcd3({ hosts: etcd.endpoint });
  const publishedAt = new Map<string, number>();
  const counts = new Map<string, number[]>();
  const current = new Map<string, number>();
  const watcher = await raw.watch().prefix('services/').create();
  watcher.on('data', (res) => {
    const touched = new Set<string>();
    for (const e of res.events) {
      const [, service, last] = e.kv.key.toString().split('/') as [string, string, string];
      touched.add(service);
      if (e.type === 'Put' && e.kv.version === '1') {
        current.set(service, (current.get(service) ?? 0) + 1);
        if (!publishedAt.has(last.split(':')[0]!)) publishedAt.set(last.split(':')[0]!, performance.now());
      } else if (e.type === 'Delete') current.set(service, (current.get(service) ?? 0) - 1);
    }
    for (const s of touched) counts.set(s, [...(counts.get(s) ?? []), current.get(s) ?? 0]);
  });
  const follow = await loadBundle('follow');
  // As serverless.yml's event source: batches of up to 100, gathered for up to 1 s.
  const consumer = consumeQueue(aws.queue(queue), follow as never, { batchSize: 100, batchingWindowMs: 1000 });
  return {
    aws,
    raw,
    register: await loadBundle('register'),
    deregister: await loadBundle('deregister'),
    publishedAt,
    counts,
    close: async () => {
      await consumer.stop();
      await watcher.cancel();
      raw.close();
      await aws.stop();
      await etcd.stop();
    },
  };
}

/** Task `n` of `service`, health-checked, started 28 s ago; ECS knows it (health UNKNOWN unless `healthy`). */
function task(platform: Platform, n: number, service: string, healthy = false): CheckedTask {
  const startedAt = new Date(Date.now() - 28_000).toISOString();
  return checkedTask(platform.aws, n, {
    salt: BENCH_EVENT.salt,
    service,
    definitionArn: DEFINITION,
    startedAt,
    health: healthy ? 'HEALTHY' : 'UNKNOWN',
  });
}

async function waitPublished(platform: Platform, ids: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (ids.some((id) => !platform.publishedAt.has(id))) {
    if (Date.now() > deadline)
      throw new Error(`${ids.filter((id) => !platform.publishedAt.has(id)).length} tasks never published`);
    await sleep(50);
  }
}

const figures = (latencies: number[]) => ({
  healthy_to_routable_p50_s: round(median(latencies) / 1000),
  healthy_to_routable_p99_s: round(percentile(latencies, 0.99) / 1000),
  healthy_to_routable_max_s: round(Math.max(...latencies) / 1000),
});

async function routable(platform: Platform, count = 50, spreadMs = 15_000): Promise<Json> {
  {
    const random = mulberry32(20261202);
    const tasks = Array.from({ length: count }, (_, i) => task(platform, 1000 + i, 'routable'));
    const context = lambdaContext('register');
    for (const t of tasks)
      if ((await platform.register(t.running, context)).action !== 'pending') throw new Error('not recorded pending');
    const describeBefore = platform.aws.count('DescribeTasks');
    const sentBefore = platform.aws.queue(process.env.FOLLOW_QUEUE_URL!).sent - count;
    const healthyAt = new Map<string, number>();
    await Promise.all(
      tasks.map(async (t) => {
        await sleep(1000 + random() * spreadMs);
        t.report('HEALTHY');
        healthyAt.set(t.taskId, performance.now());
      }),
    );
    await waitPublished(
      platform,
      tasks.map((t) => t.taskId),
      30_000,
    );
    const latencies = tasks.map((t) => platform.publishedAt.get(t.taskId)! - healthyAt.get(t.taskId)!);
    const describes = platform.aws.count('DescribeTasks') - describeBefore;
    return {
      figure: 'health_checked_routable',
      tasks: count,
      health_check: 'ECS defaults (30 s interval): a check every 3 s',
      ...figures(latencies),
      goal_p99_s: 5,
      describe_tasks_calls: describes,
      ecs_calls_per_pending_task: round(describes / count, 2),
      follow_messages_sent_per_task: round(
        (platform.aws.queue(process.env.FOLLOW_QUEUE_URL!).sent - sentBefore) / count,
        1,
      ),
    };
  }
}

async function rollingDeploy(platform: Platform, size = 200, spreadMs = 10_000): Promise<Json> {
  {
    const random = mulberry32(2026120200);
    const context = lambdaContext('register');
    const old = Array.from({ length: size }, (_, i) => task(platform, 5000 + i, 'deploy', true));
    for (const t of old)
      if ((await platform.register(t.running, context)).action !== 'registered')
        throw new Error('old task not registered');
    const fresh = Array.from({ length: size }, (_, i) => task(platform, 9000 + i, 'deploy'));
    const describeBefore = platform.aws.count('DescribeTasks');
    const started = performance.now();
    const countsBefore = platform.counts.get('deploy')?.length ?? 0;
    for (const t of fresh)
      if ((await platform.register(t.running, context)).action !== 'pending') throw new Error('not recorded pending');
    const healthyAt = new Map<string, number>();
    const stopMs: number[] = [];
    let drained = 0;
    // deregister's reserved concurrency: at most 10 stops handled at once, the rest wait their turn.
    const deregisterSlots = pLimit(10);
    await Promise.all(
      fresh.map(async (t, i) => {
        await sleep(1000 + random() * spreadMs);
        t.report('HEALTHY');
        healthyAt.set(t.taskId, performance.now());
        const stop = old[i]!.stop();
        const t0 = performance.now();
        const outcome = await deregisterSlots(() => platform.deregister(stop, lambdaContext('deregister')));
        stopMs.push(performance.now() - t0);
        drained += outcome.drained?.published.length ?? 0;
        if (outcome.action !== 'removed') throw new Error(`old task not removed: ${JSON.stringify(outcome)}`);
      }),
    );
    await waitPublished(
      platform,
      fresh.map((t) => t.taskId),
      30_000,
    );
    const latencies = fresh.map((t) => platform.publishedAt.get(t.taskId)! - healthyAt.get(t.taskId)!);
    const describes = platform.aws.count('DescribeTasks') - describeBefore;
    // From the first new RUNNING on (the old tasks' registration ramped up from 0 before).
    const counts = [size, ...(platform.counts.get('deploy') ?? []).slice(countsBefore)];
    return {
      figure: 'health_checked_rolling_deploy_200',
      tasks: `${size} -> ${size}`,
      health_check: 'ECS defaults (30 s interval): a check every 3 s',
      ...figures(latencies),
      goal_p99_s: 5,
      min_endpoints_during_deploy: Math.min(...counts),
      // Counts every drain check's publish: two checks racing for one task both write it.
      published_by_drain_check: drained,
      // From ECS stopping the task to deregister's return, waiting for a free slot included.
      stop_handling_p50_ms: round(median(stopMs), 1),
      stop_handling_p99_ms: round(percentile(stopMs, 0.99), 1),
      describe_tasks_calls: describes,
      ecs_calls_per_pending_task: round(describes / size, 2),
      deploy_duration_s: round((performance.now() - started) / 1000, 1),
    };
  }
}

/** Both figures, one after the other, on one platform (the bundles keep their etcd client). */
export async function benchHealth(): Promise<Json[]> {
  const platform = await startPlatform();
  try {
    return [await routable(platform), await rollingDeploy(platform)];
  } finally {
    await platform.close();
  }
}
