/**
 * How fast clients follow a stop: the time from the deregister handler returning to the last call
 * the stopped server received, while a client keeps calling. Negative means the client had already
 * left the server before the handler returned (the watch event travels while the handler still
 * revokes the lease and logs).
 *
 * Everything runs in this process against a local etcd: three grpc-js servers as bridge-mode tasks
 * registered through the register handler, a grpc-js client (`etcd:///services/<service>`,
 * round_robin) with four call loops, then the stop event through the deregister handler. Server
 * clocks and the handler's return share `performance.now()`. When Go and Debian's etcd/grpc-go
 * sources are installed, the same is measured for etcd's own Go resolver (grpc-go, round_robin)
 * calling the same servers from its own process.
 *
 *   npx tsx bench/follow.ts [runs]      (also: npm run bench follow)
 */
import { rmSync } from 'node:fs';
import { registerEtcdResolver, roundRobin } from '../lib/discovery/grpc-resolver';
import { goInteropMissing } from '../scripts/ensure-go.mjs';
import { lambdaContext } from '../test/kit/lambda';
import { LocalAws } from '../test/kit/local-aws';
import { startLocalEtcd } from '../test/kit/local-etcd';
import { LocalFleet, type FleetTask } from '../test/kit/local-fleet';
import { check, healthClient, keepCalling, startBackend, type Backend } from '../test/kit/local-grpc';
import { buildGoPrograms, startGoClient, type GoPrograms } from '../test/kit/go';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  /** Last call at the stopped server, ms after the handler returned (negative: before). */
  readonly lastCallMs: number;
  /** Calls the stopped server received after the handler returned. */
  readonly callsAfter: number;
  readonly handlerMs: number;
  readonly errors: number;
}

/** Calls until every server answered once (round_robin picks only connected ones). */
async function warm(servers: readonly Backend[], call: () => Promise<void>): Promise<void> {
  for (let i = 0; servers.some((s) => s.calls === 0); i++) {
    if (i === 200)
      throw new Error(
        `the client never reached ${servers
          .filter((s) => s.calls === 0)
          .map((s) => s.addr)
          .join(', ')}`,
      );
    await call();
  }
}

/** Load from one client; resolves with its error count once stopped. */
type Load = { stop(): Promise<number> };

function summary(figure: string, client: string, runs: Run[]): Record<string, unknown> {
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const at = (xs: number[], p: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
  const last = runs.map((r) => r.lastCallMs);
  const handler = runs.map((r) => r.handlerMs);
  return {
    figure,
    client,
    runs: runs.length,
    last_call_after_return_p50_ms: +at(last, 0.5).toFixed(3),
    last_call_after_return_max_ms: +Math.max(...last).toFixed(3),
    last_call_after_return_min_ms: +Math.min(...last).toFixed(3),
    runs_with_calls_after_return: runs.filter((r) => r.callsAfter > 0).length,
    calls_after_return_max: Math.max(...runs.map((r) => r.callsAfter)),
    client_errors: runs.reduce((n, r) => n + r.errors, 0),
    deregister_handler_p50_ms: +at(handler, 0.5).toFixed(3),
    last_call_after_handler_start_p50_ms: +at(
      runs.map((r) => r.lastCallMs + r.handlerMs),
      0.5,
    ).toFixed(3),
  };
}

/** Runs the benchmark; returns one summary per client kind. */
export async function benchFollow(runs = 20): Promise<Record<string, unknown>[]> {
  const etcd = await startLocalEtcd();
  const aws = await new LocalAws().start();
  let go: GoPrograms | undefined;
  try {
    Object.assign(process.env, aws.sdkEnv(), {
      ETCD_ENDPOINTS: etcd.endpoint,
      ALLOW_LOOPBACK_ENDPOINTS: 'true',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    });
    const { handler: register } = await import('../functions/register');
    const { handler: deregister } = await import('../functions/deregister');
    registerEtcdResolver({ hosts: etcd.endpoint });
    const fleet = new LocalFleet(aws);
    const missing = goInteropMissing();
    go = missing ? undefined : await buildGoPrograms();

    /** Three registered tasks; `drive` puts load on them and returns a function that ends it. */
    const once = async (service: string, drive: (servers: Backend[]) => Promise<Load>): Promise<Run> => {
      const servers = await Promise.all([1, 2, 3].map((i) => startBackend(`${service}-${i}`)));
      const tasks: FleetTask[] = [];
      for (const server of servers) {
        const task = fleet.task(service, server.port);
        await register(task.running(), lambdaContext('bench'));
        tasks.push(task);
      }
      const load = await drive(servers);
      await sleep(100);
      const stopped = servers[1]!;
      const started = performance.now();
      await deregister(tasks[1]!.stop(), lambdaContext('bench'));
      const returned = performance.now();
      const atReturn = stopped.calls;
      await sleep(300);
      const errors = await load.stop();
      await Promise.all(servers.map((s) => s.stop()));
      return {
        lastCallMs: stopped.lastCallAt! - returned,
        callsAfter: stopped.calls - atReturn,
        handlerMs: returned - started,
        errors,
      };
    };

    const results = [];
    const js: Run[] = [];
    for (let r = 0; r < runs; r++) {
      js.push(
        await once(`follow-js-${r}`, async (servers) => {
          const client = healthClient(`etcd:///services/follow-js-${r}`, roundRobin);
          await check(client, { waitForReady: true });
          await warm(servers, async () => void (await check(client)));
          const load = keepCalling(client, 4);
          return {
            stop: async () => {
              const { errors } = await load.stop();
              client.close();
              return errors.length;
            },
          };
        }),
      );
    }
    results.push(summary('deregister_return_to_last_call', 'grpc-js + lib/discovery resolver', js));

    if (go) {
      const goRuns: Run[] = [];
      for (let r = 0; r < runs; r++) {
        goRuns.push(
          await once(`follow-go-${r}`, async (servers) => {
            // grpc-go sends the target path as :authority unless told otherwise; Node's HTTP/2 rejects it.
            const client = startGoClient(go!, etcd.endpoint, `etcd:///services/follow-go-${r}/`, {
              authority: `follow-go-${r}`,
            });
            await warm(servers, async () => void (await client.call(10)));
            // One batch of sequential calls spanning the stop; its answer ends the load.
            const batch = client.run(1000);
            return {
              stop: async () => {
                const { errors } = await batch;
                await client.close();
                return errors.length;
              },
            };
          }),
        );
      }
      results.push(
        summary('deregister_return_to_last_call', "grpc-go + etcd's Go resolver (separate process)", goRuns),
      );
    } else {
      results.push({
        figure: 'deregister_return_to_last_call',
        client: "grpc-go + etcd's Go resolver",
        skipped: missing,
      });
    }
    return results;
  } finally {
    if (go) rmSync(go.dir, { recursive: true, force: true });
    await aws.stop();
    await etcd.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await benchFollow(Number(process.argv[2] ?? 20))) console.log(JSON.stringify(line));
  process.exit(0);
}
