/**
 * Renew at scale within ECS's read budget: N tasks (default 100,000) in C clusters (default 50),
 * the local ECS endpoint throttling like ECS (a bucket per action of 100, refilling 20 a second),
 * ECS_MAX_READS_PER_SECOND at its default (10), and the renew function's bundle in a process of its
 * own ticking with Lambda's 50 s. The last task of the pass order is stopped without an event
 * before the first tick. Printed per tick and overall: tick duration (etcd part and whole), ECS
 * reads per tick and per minute (one tick a minute), throttled calls, K, lease renewal coverage,
 * ticks until the silent stop is gone, and the renew process's peak memory.
 * `SCALE_TASKS` / `SCALE_CLUSTERS` run it smaller.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { parseTaskStateChange } from '../lib/ecs/event';
import { recordKey } from '../lib/keys';
import { fargateEvent } from '../test/kit/events';
import { startLocalEtcd } from '../test/kit/local-etcd';
import { BENCH_EVENT, type Json, median, round, registrarFromEnv, startEcsEndpoint } from './support';

const quiet = { info() {}, warn() {}, error() {} };
const TICK_MS = 50_000;
const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
const progress = (message: string) => process.stderr.write(`scale: ${message}\n`);

export async function benchScale(
  tasks = Number(process.env.SCALE_TASKS ?? 100_000),
  clusters = Number(process.env.SCALE_CLUSTERS ?? 50),
): Promise<Json[]> {
  const etcd = await startLocalEtcd();
  const ecs = await startEcsEndpoint();
  try {
    const env = {
      ...ecs.env,
      ETCD_ENDPOINTS: etcd.endpoint,
      LEASE_TTL_SECONDS: '3600',
      ECS_MAX_READS_PER_SECOND: '10',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
    };
    Object.assign(process.env, env);
    const { config, client, registrar } = registrarFromEnv(quiet);

    progress(`registering ${tasks} tasks in ${clusters} clusters (setup, not measured)`);
    const setupStarted = performance.now();
    await ecs.addTasks(0, tasks, clusters);
    const limit = pLimit(256);
    let done = 0;
    await Promise.all(
      Array.from({ length: tasks }, (_, n) =>
        limit(async () => {
          await registrar.register(parseTaskStateChange(fargateEvent(n, { ...BENCH_EVENT, clusters })).task);
          if (++done % 20_000 === 0) progress(`${done} registered`);
        }),
      ),
    );
    progress(`setup took ${round((performance.now() - setupStarted) / 1000, 1)} s`);

    // The task a pass from the start reaches last: the highest id of the last cluster by name.
    let lastN = tasks - 1;
    while (lastN % clusters !== clusters - 1 && clusters > 1) lastN--;
    const stopped = fargateEvent(lastN, { ...BENCH_EVENT, clusters }).detail;
    await ecs.updateTask(stopped.taskArn, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED', version: 6 });
    const stoppedKey = recordKey(config.statePrefix, stopped.clusterArn, stopped.taskArn.split('/').pop());
    await ecs.throttle({ capacity: 100, refillPerSecond: 20 });

    const child = fork(join(import.meta.dirname, 'renew-process.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let answer: ((message: Json) => void) | undefined;
    child.on('message', (message: Json) => answer?.(message));
    const next = () => new Promise<Json>((resolve) => (answer = resolve));
    await next(); // ready

    const lines: Json[] = [];
    let goneAfter: number | undefined;
    const maxTicks = 20;
    for (let tick = 1; tick <= maxTicks && goneAfter === undefined; tick++) {
      const calls = await ecs.counts();
      const throttled = await ecs.throttled();
      const replied = next();
      child.send({ remainingMs: TICK_MS });
      const result = await replied;
      const reads = sum(await ecs.counts()) - sum(calls);
      const refused = sum(await ecs.throttled()) - sum(throttled);
      if (result.error) throw new Error(`tick ${tick} failed after ${round(result.wallMs)} ms: ${result.error}`);
      const s = result.summary;
      const gone = (await client.get(stoppedKey).string()) === null;
      if (gone) goneAfter = tick;
      const line = {
        figure: 'renew_scale_tick',
        tick,
        total_ms: Math.round(s.durationsMs.total),
        etcd_ms: Math.round(s.durationsMs.records + s.durationsMs.keepAlive),
        ecs_reads: reads,
        ecs_reads_per_s: round(reads / (s.durationsMs.total / 1000), 1),
        throttled: refused,
        k: s.verification.ticksPerPass,
        budget_reads: s.verification.budgetReads,
        verified: s.verification.tasksVerified,
        listed: s.verification.clustersListed,
        left: s.verification.left,
        leases_renewed: round((s.renewed + s.removed + s.registered) / s.records, 4),
        failed: s.failed,
        max_rss_mb: Math.round(result.maxRssMb),
        silent_stop_gone: gone,
      };
      progress(JSON.stringify(line));
      lines.push(line);
    }
    child.kill();
    client.close();
    const ticks = lines.length;
    const total = (key: string) => lines.reduce((n, l) => n + (l[key] as number), 0);
    return [
      ...lines,
      {
        figure: 'renew_scale',
        tasks,
        clusters,
        ecs_max_reads_per_second: 10,
        ecs_bucket: '100 burst, 20/s per action',
        ticks,
        tick_ms_median: median(lines.map((l) => l.total_ms)),
        tick_ms_max: Math.max(...lines.map((l) => l.total_ms)),
        tick_deadline_ms: TICK_MS,
        etcd_ms_median: median(lines.map((l) => l.etcd_ms)),
        ecs_reads_per_tick_median: median(lines.map((l) => l.ecs_reads)),
        ecs_reads_per_minute: median(lines.map((l) => l.ecs_reads)),
        throttled_calls: total('throttled'),
        throttled_share: round(total('throttled') / Math.max(1, total('ecs_reads')), 4),
        k: Math.max(...lines.map((l) => l.k)),
        tasks_verified_in_run: total('verified'),
        lease_renewal_coverage_min: Math.min(...lines.map((l) => l.leases_renewed)),
        ticks_until_silent_stop_gone: goneAfter ?? `not within ${maxTicks}`,
        renew_peak_rss_mb: Math.max(...lines.map((l) => l.max_rss_mb)),
      },
    ];
  } finally {
    ecs.stop();
    await etcd.stop();
  }
}
