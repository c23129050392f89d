/**
 * How soon discovery clients are back in sync after a single etcd member is killed and restarted:
 * the time from etcd answering again (its /health is OK) to the client showing a task registered
 * right after the restart, for `watchService` and for a grpc-js channel through the etcd resolver.
 *
 * Everything runs in this process against a local single-member etcd: per run, a grpc-js server
 * as a bridge-mode task, a watcher and a channel on its (still empty) service, then etcd is killed
 * (SIGKILL), left down for an outage of 1 to 6 s, restarted, and the task's RUNNING event goes
 * through the register handler as soon as etcd answers.
 *
 *   npx tsx bench/etcd-restart.ts [runs]      (also: npm run bench etcd-restart)
 */
import { Etcd3 } from 'etcd3';
import { discoveryClientOptions } from '../lib/discovery/client-options';
import { registerEtcdResolver, roundRobin } from '../lib/discovery/grpc-resolver';
import { watchService } from '../lib/discovery/watcher';
import { lambdaContext } from '../test/kit/lambda';
import { LocalAws } from '../test/kit/local-aws';
import { startLocalEtcd } from '../test/kit/local-etcd';
import { LocalFleet } from '../test/kit/local-fleet';
import { check, healthClient, startBackend } from '../test/kit/local-grpc';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Outages cycled through: short ones meet etcd3's circuit breaker, long ones a grown backoff. */
const OUTAGES_MS = [1000, 3000, 6000];

interface Run {
  readonly outageMs: number;
  /** etcd healthy → the register handler returned. */
  readonly registerMs: number;
  /** etcd healthy → the watcher lists the task. */
  readonly watcherMs: number;
  /** etcd healthy → a call on the channel reaches the task. */
  readonly resolverMs: number;
}

/** The same moment, measured from the register handler's return instead. */
const afterRegistered = (r: Run, ms: number) => ms - r.registerMs;

/** Resolves with `performance.now()` once `seen()` holds, polling every 10 ms. */
async function until(seen: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await seen()) return performance.now();
    await sleep(10);
  }
  throw new Error(`not seen within ${timeoutMs} ms`);
}

function summary(runs: Run[]): Record<string, unknown> {
  const at = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
  const stats = (xs: number[]) => ({ p50: Math.round(at(xs, 0.5)), max: Math.round(Math.max(...xs)) });
  return {
    figure: 'etcd_restart_to_client_in_sync',
    runs: runs.length,
    outages_ms: OUTAGES_MS,
    register_after_healthy_ms: stats(runs.map((r) => r.registerMs)),
    watcher_after_healthy_ms: stats(runs.map((r) => r.watcherMs)),
    resolver_after_healthy_ms: stats(runs.map((r) => r.resolverMs)),
    watcher_after_registered_ms: stats(runs.map((r) => afterRegistered(r, r.watcherMs))),
    resolver_after_registered_ms: stats(runs.map((r) => afterRegistered(r, r.resolverMs))),
    per_run: runs.map((r) => [r.outageMs, Math.round(r.watcherMs), Math.round(r.resolverMs)]),
  };
}

/** Runs the benchmark; returns one summary line. */
export async function benchEtcdRestart(runs = 9): Promise<Record<string, unknown>> {
  const etcd = await startLocalEtcd();
  const aws = await new LocalAws().start();
  const watcherClient = new Etcd3(discoveryClientOptions({ hosts: etcd.endpoint }));
  try {
    Object.assign(process.env, aws.sdkEnv(), {
      ETCD_ENDPOINTS: etcd.endpoint,
      ALLOW_LOOPBACK_ENDPOINTS: 'true',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    const { handler: register } = await import('../functions/register');
    registerEtcdResolver({ hosts: etcd.endpoint });
    const fleet = new LocalFleet(aws);
    // The first invocation builds the handler's clients; the figure is about the discovery side.
    const warm = await startBackend('warm-up');
    await register(fleet.task('warm-up', warm.port).running(), lambdaContext('bench'));
    await warm.stop();
    const results: Run[] = [];
    for (let r = 0; r < runs; r++) {
      const service = `restart-${r}`;
      const server = await startBackend(service);
      const watcher = watchService(watcherClient, `services/${service}/`);
      const channel = healthClient(`etcd:///services/${service}`, roundRobin);
      try {
        await watcher.ready();
        await check(channel).catch(() => undefined); // the channel resolves (an empty service)
        const outageMs = OUTAGES_MS[r % OUTAGES_MS.length]!;
        await etcd.kill();
        await sleep(outageMs);
        await etcd.restart();
        const healthy = performance.now();
        await register(fleet.task(service, server.port).running(), lambdaContext('bench'));
        const registered = performance.now();
        const [watcherAt, resolverAt] = await Promise.all([
          until(() => watcher.addresses().includes(server.addr)),
          until(() =>
            check(channel, { deadlineMs: 200 }).then(
              (peer) => peer === server.addr,
              () => false,
            ),
          ),
        ]);
        results.push({
          outageMs,
          registerMs: registered - healthy,
          watcherMs: watcherAt - healthy,
          resolverMs: resolverAt - healthy,
        });
      } finally {
        channel.close();
        watcher.close();
        await server.stop();
      }
    }
    return summary(results);
  } finally {
    watcherClient.close();
    await aws.stop();
    await etcd.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchEtcdRestart(Number(process.argv[2] ?? 9))));
  process.exit(0);
}
