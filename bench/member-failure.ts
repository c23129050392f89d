/**
 * Register latency and renew tick time on a 3-member etcd with every member healthy, with one
 * member dead (process killed, its address refusing connections), and with one silent (its
 * address accepts connections and never answers), at the production `ETCD_TIMEOUT_MS` (5000).
 *
 * Each member sits behind a TCP proxy (test/kit/tcp-proxy.ts). The registry holds a fleet of
 * running Fargate tasks (setup, not measured). Per case, a fresh registrar (a new process's client:
 * it has to find the bad member itself) runs renew ticks in a row, then another fresh one registers
 * tasks one after another; printed: register p50/p99/max, each tick's time, and the leases (or
 * tasks) a tick left unrenewed or failed.
 *
 *   npm run bench -- members
 */
import { parseTaskStateChange } from '../lib/ecs/event';
import { fargateEvent } from '../test/kit/events';
import { startLocalEtcdCluster } from '../test/kit/local-etcd';
import { startTcpProxy } from '../test/kit/tcp-proxy';
import { BENCH_EVENT, type Json, median, percentile, registrarFromEnv, round, startEcsEndpoint } from './support';
import { renewTasks } from '../lib/renew/run';

const quiet = { info() {}, warn() {}, error() {} };

interface Options {
  /** Tasks in the registry before the cases run. @default 1000 */
  readonly fleet?: number;
  /** Registers per case. @default 200 */
  readonly registers?: number;
  /** Renew ticks per case. @default 5 */
  readonly ticks?: number;
}

export async function benchMemberFailure({ fleet = 1000, registers = 200, ticks = 5 }: Options = {}): Promise<Json[]> {
  const cluster = await startLocalEtcdCluster(3);
  const proxies = await Promise.all(cluster.endpoints.map((e) => startTcpProxy(e)));
  const ecs = await startEcsEndpoint();
  const cases = ['healthy', 'one_dead', 'one_silent'] as const;
  const lines: Json[] = [];
  try {
    Object.assign(process.env, ecs.env, {
      ETCD_ENDPOINTS: proxies.map((p) => p.endpoint).join(','),
      ETCD_TIMEOUT_MS: '5000',
      ECS_MAX_READS_PER_SECOND: '1000',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    // ECS knows each case's tasks only from its start: renew would otherwise repair them first.
    await ecs.addTasks(0, fleet);
    let n = 0;
    const setup = registrarFromEnv(quiet);
    while (n < fleet) {
      const batch = Array.from({ length: Math.min(50, fleet - n) }, () => n++);
      await Promise.all(
        batch.map((i) => setup.registrar.register(parseTaskStateChange(fargateEvent(i, BENCH_EVENT)).task)),
      );
    }
    setup.client.close();

    for (const name of cases) {
      if (name === 'one_dead') {
        await cluster.members[2]!.kill();
        proxies[2]!.cut();
        await cluster.leader();
      }
      if (name === 'one_silent') proxies[1]!.silence();
      // Ticks first, then registers, each on a fresh client (a new process): each meets the bad
      // member first-hand, before anything else in the process has marked it.
      const ticker = registrarFromEnv(quiet);
      const tickMs: number[] = [];
      const unrenewed: number[] = [];
      try {
        for (let t = 0; t < ticks; t++) {
          const summary = await renewTasks(ticker.registrar);
          tickMs.push(round(summary.durationsMs.total, 0));
          unrenewed.push(summary.failed);
        }
      } finally {
        ticker.client.close();
      }
      await ecs.addTasks(n, n + registers);
      const { registrar, client } = registrarFromEnv(quiet);
      try {
        const latencies: number[] = [];
        for (let i = 0; i < registers; i++) {
          const task = parseTaskStateChange(fargateEvent(n++, BENCH_EVENT)).task;
          const started = performance.now();
          const outcome = await registrar.register(task);
          latencies.push(performance.now() - started);
          if (outcome.action !== 'registered') throw new Error(`${name}: register: ${JSON.stringify(outcome)}`);
        }
        lines.push({
          figure: 'etcd_member_failure',
          case: name,
          tasks: n,
          etcd_timeout_ms: 5000,
          register_p50_ms: round(median(latencies), 2),
          register_p99_ms: round(percentile(latencies, 0.99), 2),
          register_max_ms: round(Math.max(...latencies), 0),
          registers_over_1s: latencies.filter((ms) => ms > 1000).length,
          tick_ms: tickMs,
          tick_unrenewed_or_failed: unrenewed,
          avoided: client.health.avoided(),
        });
      } finally {
        client.close();
      }
      if (name === 'one_dead') {
        proxies[2]!.restore();
        await cluster.members[2]!.restart();
      }
      if (name === 'one_silent') proxies[1]!.restore();
    }
    return lines;
  } finally {
    ecs.stop();
    for (const proxy of proxies) await proxy.close();
    await cluster.stop();
  }
}
