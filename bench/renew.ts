/**
 * Renew tick at scale. The registry is filled with N running Fargate tasks (setup, not measured)
 * and the renew function's bundle runs a tick against it, the local ECS endpoint (another process)
 * answering at once. Printed per size: the tick's total, its etcd part (reading the records, the
 * endpoint keys (keys only) and MISSING marks, and renewing the leases) with per-task cost next to its floor (the raw etcd3 client reading the same
 * records in ~2 MB pages and sending every keepalive at once over 4 streams, between the ticks),
 * the ECS calls it made, and the CPU time this process (the renew function) and the etcd server
 * spent on the tick, per task.
 */
import { readFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import pLimit from 'p-limit';
import { parseTaskStateChange } from '../lib/ecs/event';
import { prefixEnd } from '../lib/etcd/registry';
import { fargateEvent } from '../test/kit/events';
import { lambdaContext } from '../test/kit/lambda';
import { startLocalEtcd } from '../test/kit/local-etcd';
import { BENCH_EVENT, type Json, loadBundle, median, round, registrarFromEnv, startEcsEndpoint } from './support';

const quiet = { info() {}, warn() {}, error() {} };
const ticksAt = (size: number) => (size > 10_000 ? 3 : 5);

/** The least an etcd client can do for the etcd part of a tick: read the records and the endpoint keys (keys only), renew the leases. */
async function etcdFloor(raw: Etcd3, prefix: string, endpointPrefix: string): Promise<number> {
  const started = performance.now();
  // Keys only, in pages of 10,000 (as the tick reads them): one answer for 50,000 keys passes grpc-js's 4 MB limit.
  for (let key = Buffer.from(endpointPrefix); ; ) {
    const res = await raw.kv.range({ key, range_end: prefixEnd(endpointPrefix), keys_only: true, limit: 10_000 });
    if (!res.more || res.kvs.length === 0) break;
    key = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
  }
  const leases: string[] = [];
  const end = prefixEnd(prefix);
  let start = Buffer.from(prefix);
  for (;;) {
    const res = await raw.kv.range({ key: start, range_end: end, limit: 3000 });
    for (const kv of res.kvs) leases.push(kv.lease);
    if (!res.more || res.kvs.length === 0) break;
    start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
  }
  const shards = [0, 1, 2, 3].map((s) => leases.filter((_, i) => i % 4 === s));
  await Promise.all(
    shards.map(async (ids) => {
      const stream = await raw.leaseClient.leaseKeepAlive();
      await new Promise<void>((resolve, reject) => {
        let answered = 0;
        stream.on('data', () => ++answered === ids.length && resolve());
        stream.on('error', reject);
        for (const ID of ids) stream.write({ ID });
      });
      stream.end();
    }),
  );
  return performance.now() - started;
}

/** CPU milliseconds a process has used so far (Linux: /proc/<pid>/stat, 100 ticks a second), if readable. */
function cpuMsOf(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

export async function benchRenew(sizes: readonly number[] = [1000, 10_000, 50_000]): Promise<Json[]> {
  const etcd = await startLocalEtcd();
  const ecs = await startEcsEndpoint();
  const lines: Json[] = [];
  try {
    // Leases long enough that setting up 50,000 tasks does not outlast them.
    Object.assign(process.env, ecs.env, {
      ETCD_ENDPOINTS: etcd.endpoint,
      LEASE_TTL_SECONDS: '3600',
      // This figure is the registrar's own cost per tick, one cluster, every task verified; pacing
      // ECS reads to a budget (and slicing a pass across ticks) is `npm run bench -- scale`.
      ECS_MAX_READS_PER_SECOND: '1000',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    const { config, client, registrar } = registrarFromEnv(quiet);
    const renew = await loadBundle('renew');
    const raw = new Etcd3({ hosts: etcd.endpoint });
    const limit = pLimit(256);
    let registered = 0;
    for (const size of sizes) {
      await ecs.addTasks(registered, size);
      const tasks = Array.from({ length: size - registered }, (_, i) => registered + i);
      await Promise.all(
        tasks.map((n) => limit(() => registrar.register(parseTaskStateChange(fargateEvent(n, BENCH_EVENT)).task))),
      );
      registered = size;

      await renew({}, lambdaContext('renew', 50_000)); // a warm container: JIT, connections
      const ticks: { summary: Json; calls: Record<string, number>; cpuMs: number; etcdCpuMs?: number }[] = [];
      const floors: number[] = [];
      for (let i = 0; i < ticksAt(size); i++) {
        const before = await ecs.counts();
        const etcdBefore = cpuMsOf(etcd.pid);
        const cpuBefore = process.cpuUsage();
        const summary = await renew({}, lambdaContext('renew', 50_000));
        const cpu = process.cpuUsage(cpuBefore);
        const etcdAfter = cpuMsOf(etcd.pid);
        const after = await ecs.counts();
        if (summary.renewed !== size || summary.failed !== 0)
          throw new Error(
            `renew tick at ${size} tasks: ${JSON.stringify({ ...summary, failures: summary.failures.slice(0, 3) })}`,
          );
        ticks.push({
          summary,
          calls: Object.fromEntries(Object.keys(after).map((op) => [op, after[op]! - (before[op] ?? 0)])),
          cpuMs: (cpu.user + cpu.system) / 1000,
          etcdCpuMs: etcdBefore === undefined || etcdAfter === undefined ? undefined : etcdAfter - etcdBefore,
        });
        floors.push(await etcdFloor(raw, `${config.statePrefix}/tasks/`, `${config.registryPrefix}/`));
      }
      const byTotal = [...ticks].sort((a, b) => a.summary.durationsMs.total - b.summary.durationsMs.total);
      const { summary, calls, cpuMs, etcdCpuMs } = byTotal[byTotal.length >> 1]!;
      const d = summary.durationsMs;
      const etcdMs = median(
        ticks.map(
          (t) => t.summary.durationsMs.records + (t.summary.durationsMs.keys ?? 0) + t.summary.durationsMs.keepAlive,
        ),
      );
      lines.push({
        figure: 'renew_tick',
        tasks: size,
        total_ms: d.total,
        etcd_ms: round(etcdMs, 1),
        etcd_floor_ms: round(median(floors), 1),
        etcd_ratio: round(etcdMs / median(floors)),
        records_ms: d.records,
        keys_ms: d.keys,
        keepalive_ms: d.keepAlive,
        describe_ms: d.describe,
        reconcile_ms: d.reconcile,
        per_task_us: round((d.total / size) * 1000, 1),
        etcd_per_task_us: round((etcdMs / size) * 1000, 1),
        describe_tasks_calls: calls.DescribeTasks ?? 0,
        describe_tasks_expected: Math.ceil(size / 100),
        list_tasks_calls: calls.ListTasks ?? 0,
        renew_cpu_per_task_us: round((cpuMs / size) * 1000, 1),
        ...(etcdCpuMs === undefined ? {} : { etcd_server_cpu_per_task_us: round((etcdCpuMs / size) * 1000, 1) }),
        ticks: ticks.length,
        ...(size === 10_000 ? { goal_etcd_ms: 400 } : {}),
      });
    }
    client.close();
    raw.close();
    return lines;
  } finally {
    ecs.stop();
    await etcd.stop();
  }
}
