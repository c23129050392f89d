/**
 * The xDS server at scale: 1,000 services with 10,000 endpoints (10 each, over three zones) in a
 * local etcd, the server (the container image's bundle, scripts/build-xds.mjs) in its own process,
 * and 200 connected clients, each subscribing to 10 services — one shared by all 200, nine of its
 * own — in one of the three zones. The clients are raw ADS clients (test/kit/ads-client.ts: grpc-js
 * and the Envoy protos, the request sequence of gRPC's xDS clients), not grpc-js-xds channels:
 * 200 of those would each dial the 10,000 made-up endpoint addresses.
 *
 * Figures: etcd change (a Put or a Delete returned) → a subscribed client holds the new assignment,
 * p50/p99, for changes to services two or three clients watch and to the one all 200 watch; the
 * server's resident memory and CPU; the time a reconnecting client takes to hold all its services
 * again, one at a time and all 200 at once.
 *
 *   npx tsx bench/xds.ts      (also: npm run bench -- xds)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Etcd3 } from 'etcd3';
import { buildXds } from '../scripts/build-xds.mjs';
import { startAdsClient, type AdsClient, type Assignment } from '../test/kit/ads-client';
import { findFreePort, startLocalEtcd } from '../test/kit/local-etcd';
import { mulberry32 } from '../test/kit/random';
import { distDir, percentile, round } from './support';

const SERVICES = 1000;
const PER_SERVICE = 10;
const CLIENTS = 200;
const PER_CLIENT = 10;
const ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
const CHANGES = 200;
const HOT_CHANGES = 20;
const RECONNECTS = 50;
const PREFIX = 'bench/services';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const name = (i: number) => `svc-${String(i).padStart(4, '0')}`;
const value = (ip: string, port: number, zone: string) =>
  JSON.stringify({ Op: 0, Addr: `${ip}:${port}`, Metadata: JSON.stringify({ availabilityZone: zone }) });
const keyOf = (service: string, id: string) => `${PREFIX}/${service}/${id}`;

/** CPU milliseconds and resident kB of a process (Linux /proc). */
function usage(pid: number): { cpuMs: number; rssKb: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuMs, rssKb: Number(rss?.[1] ?? 0) };
}

async function main() {
  const random = mulberry32(19);
  const etcd = await startLocalEtcd();
  const kv = new Etcd3({ hosts: etcd.endpoint });
  const writes: (() => Promise<unknown>)[] = [];
  for (let s = 0; s < SERVICES; s++)
    for (let e = 0; e < PER_SERVICE; e++)
      writes.push(() =>
        kv
          .put(keyOf(name(s), `t${e}:8080`))
          .value(value(`10.${s >> 8}.${s & 255}.${e + 1}`, 8080, ZONES[e % ZONES.length]!))
          .exec(),
      );
  for (let i = 0; i < writes.length; i += 500) await Promise.all(writes.slice(i, i + 500).map((write) => write()));

  const { file } = await buildXds(join(distDir, 'xds'));
  const healthPort = await findFreePort();
  const child = spawn(process.execPath, [file, 'xds', '--port', '0'], {
    env: {
      PATH: process.env.PATH,
      ETCD_ENDPOINTS: etcd.endpoint,
      REGISTRY_PREFIX: PREFIX,
      XDS_HEALTH_PORT: String(healthPort),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`xds server exited with ${code}`)));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      const listening = /xds: listening on [^:]+:(\d+)/.exec(line);
      if (listening) resolve(Number(listening[1]));
    });
  });
  const server = `127.0.0.1:${port}`;
  const launched = performance.now();
  while (
    !(await fetch(`http://127.0.0.1:${healthPort}/healthz`).then(
      (r) => r.ok,
      () => false,
    ))
  )
    await sleep(20);
  const firstReadMs = performance.now() - launched;
  await sleep(500);
  const idle = usage(child.pid!);

  // Every client watches svc-0000 and nine services of its own (200 × 9 > 1,000: each service has 1-3 watchers).
  const subscriptions = Array.from({ length: CLIENTS }, (_, c) => [
    name(0),
    ...Array.from({ length: PER_CLIENT - 1 }, (_, j) => name(1 + ((c * (PER_CLIENT - 1) + j) % (SERVICES - 1)))),
  ]);
  const watchers = new Map<string, number[]>();
  subscriptions.forEach((services, c) => {
    for (const s of services) watchers.set(s, [...(watchers.get(s) ?? []), c]);
  });
  /** Waiting for an address to appear in (or leave) an assignment: client → service → check. */
  const expectations = new Map<string, { check: (a: Assignment) => boolean; resolve: (at: number) => void }>();
  const onAssignment = (c: number) => (service: string, assignment: Assignment, at: number) => {
    const pending = expectations.get(`${c}|${service}`);
    if (pending?.check(assignment)) {
      expectations.delete(`${c}|${service}`);
      pending.resolve(at);
    }
  };
  const connect = (c: number): AdsClient =>
    startAdsClient({
      server,
      services: subscriptions[c]!,
      nodeId: `bench-${c}`,
      zone: ZONES[c % ZONES.length],
      onAssignment: onAssignment(c),
    });

  const connectStarted = performance.now();
  const clients = subscriptions.map((_, c) => connect(c));
  await Promise.all(clients.map((c) => c.complete));
  const allConnectedMs = performance.now() - connectStarted;
  await sleep(500);
  const connected = usage(child.pid!);

  /** One change: a new endpoint, or the removal of one added before; resolves with each watcher's delay. */
  let serial = 0;
  const added: { service: string; key: string; addr: string }[] = [];
  async function change(service: string): Promise<number[]> {
    const mine = added.filter((a) => a.service === service);
    const removing = mine.length > 0 && random() < 0.5;
    const target = removing
      ? mine[Math.floor(random() * mine.length)]!
      : { service, key: keyOf(service, `n${++serial}:9090`), addr: `10.200.${serial >> 8}.${serial & 255}:9090` };
    if (removing) added.splice(added.indexOf(target), 1);
    const has = (a: Assignment) => Object.values(a).some((list) => list.includes(target.addr));
    const waits = (watchers.get(target.service) ?? []).map(
      (c) =>
        new Promise<number>((resolve) =>
          expectations.set(`${c}|${target.service}`, { check: removing ? (a) => !has(a) : has, resolve }),
        ),
    );
    const ip = target.addr.split(':')[0]!;
    const started = performance.now();
    if (removing) await kv.delete().key(target.key);
    else {
      await kv.put(target.key).value(value(ip, 9090, ZONES[serial % ZONES.length]!));
      added.push(target);
    }
    return (await Promise.all(waits)).map((at) => at - started);
  }

  const cpuBefore = usage(child.pid!);
  const phaseStarted = performance.now();
  const delays: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    delays.push(...(await change(name(1 + Math.floor(random() * (SERVICES - 1))))));
    await sleep(20);
  }
  const hotDelays: number[] = [];
  for (let i = 0; i < HOT_CHANGES; i++) {
    hotDelays.push(...(await change(name(0))));
    await sleep(20);
  }
  const phaseMs = performance.now() - phaseStarted;
  const cpuAfter = usage(child.pid!);

  // One client reconnects at a time: a new stream until all ten services are held again.
  const reconnects: number[] = [];
  for (let i = 0; i < RECONNECTS; i++) {
    const c = Math.floor(random() * CLIENTS);
    clients[c]!.close();
    const started = performance.now();
    clients[c] = connect(c);
    reconnects.push((await clients[c]!.complete) - started);
  }
  // All 200 at once (what a restart of the server, or of its load balancer, looks like).
  for (const client of clients) client.close();
  const stormStarted = performance.now();
  const again = subscriptions.map((_, c) => connect(c));
  const stormMs = Math.max(...(await Promise.all(again.map((c) => c.complete)))) - stormStarted;
  const final = usage(child.pid!);

  for (const client of again) client.close();
  child.kill('SIGTERM');
  kv.close();
  await etcd.stop();

  const ms = (values: number[], p: number) => round(percentile(values, p / 100), 1);
  return {
    figure: 'xds',
    services: SERVICES,
    endpoints: SERVICES * PER_SERVICE,
    clients: CLIENTS,
    client: 'raw ADS (grpc-js + Envoy protos), 10 services each',
    first_read_served_ms: Math.round(firstReadMs),
    all_clients_connected_ms: Math.round(allConnectedMs),
    change_to_client_ms: { p50: ms(delays, 50), p99: ms(delays, 99), samples: delays.length },
    change_to_200_clients_ms: { p50: ms(hotDelays, 50), p99: ms(hotDelays, 99), samples: hotDelays.length },
    reconnect_one_ms: { p50: ms(reconnects, 50), p99: ms(reconnects, 99) },
    reconnect_all_200_ms: Math.round(stormMs),
    server_rss_mb: {
      idle_synced: round(idle.rssKb / 1024, 0),
      with_200_clients: round(connected.rssKb / 1024, 0),
      after_storm: round(final.rssKb / 1024, 0),
    },
    server_cpu_during_changes_percent: round(((cpuAfter.cpuMs - cpuBefore.cpuMs) / phaseMs) * 100, 1),
    changes_per_second: round(((CHANGES + HOT_CHANGES) / phaseMs) * 1000, 1),
  };
}

console.log(JSON.stringify(await main()));
process.exit(0);
