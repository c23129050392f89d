/**
 * Interop with the client nobody here wrote: etcd's own Go naming resolver
 * (go.etcd.io/etcd/clientv3/naming/resolver, etcd 3.4 as Debian packages it) in a grpc-go client
 * with round_robin, against Go gRPC servers registered by the real register handler and stopped
 * through the real deregister handler.
 *
 * Needs Debian's golang-go, golang-etcd-server-dev and golang-google-grpc-dev; installs them when
 * it can (root + apt-get), otherwise skips loudly. With INTEROP_REQUIRED set (CI) it fails instead.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { registerEtcdResolver, roundRobin } from '../../lib/discovery/grpc-resolver';
import { LocalAws } from '../kit/local-aws';
import { goInteropMissing } from '../../scripts/ensure-go.mjs';
import { LocalFleet, type FleetTask } from '../kit/local-fleet';
import { callMany, healthClient, startBackend, type Backend } from '../kit/local-grpc';
import { loadHandlers, registerTask, type Handlers } from '../kit/handlers';
import { testEnv } from '../support/harness';
import { lambdaContext } from '../kit/lambda';
import {
  buildGoPrograms,
  startGoClient,
  startGoServer,
  type GoClient,
  type GoPrograms,
  type GoServer,
} from '../kit/go';

let skipReason: string | undefined;
let programs: GoPrograms;
let aws: LocalAws;
let fleet: LocalFleet;
let handlers: Handlers;
let env: Record<string, string>;
const servers: GoServer[] = [];
const goClients: GoClient[] = [];
const nodeServers: Backend[] = [];
const api: { task: FleetTask; server: GoServer }[] = [];
let admin: GoServer;

beforeAll(async () => {
  let missing = goInteropMissing();
  if (missing) {
    spawnSync(process.execPath, [join(import.meta.dirname, '../../scripts/ensure-go.mjs')], { stdio: 'inherit' });
    missing = goInteropMissing();
  }
  if (missing) {
    if (process.env.INTEROP_REQUIRED)
      throw new Error(`INTEROP_REQUIRED is set but the Go interop test cannot run: ${missing}`);
    skipReason = `Go interop test SKIPPED: ${missing}`;
    console.warn(`\n${'!'.repeat(100)}\n${skipReason}\n${'!'.repeat(100)}\n`);
    return;
  }
  programs = await buildGoPrograms();
  aws = await new LocalAws().start();
  fleet = new LocalFleet(aws);
  env = testEnv({ POWERTOOLS_LOG_LEVEL: 'ERROR', ALLOW_LOOPBACK_ENDPOINTS: 'true' });
  handlers = await loadHandlers({ ...aws.sdkEnv(), ...env });
  for (let i = 0; i < 3; i++) {
    const server = await startGoServer(programs);
    servers.push(server);
    api.push({ task: (await registerTask(handlers, fleet, 'api', server.port)).task, server });
  }
  admin = await startGoServer(programs);
  servers.push(admin);
  await registerTask(handlers, fleet, 'api-admin', admin.port);
}, 600_000);

afterAll(async () => {
  await Promise.all([
    ...goClients.map((c) => c.close()),
    ...servers.map((s) => s.stop()),
    ...nodeServers.map((s) => s.stop()),
  ]);
  await aws?.stop();
  if (programs) rmSync(programs.dir, { recursive: true, force: true });
});

function skipUnlessRunnable(ctx: TestContext) {
  if (skipReason) ctx.skip(skipReason);
}

function goClient(target: string, options: { authority?: string } = {}): GoClient {
  const client = startGoClient(programs, env.ETCD_ENDPOINTS!, target, options);
  goClients.push(client);
  return client;
}

/** Calls until every given server has answered once (round_robin only picks connected ones). */
async function warm(client: GoClient, addrs: readonly string[]): Promise<void> {
  const seen = new Set<string>();
  for (let i = 0; i < 50 && addrs.some((a) => !seen.has(a)); i++)
    for (const peer of Object.keys((await client.call(5)).peers)) seen.add(peer);
}

describe("etcd's Go resolver (grpc-go, round_robin) with tasks registered by the handlers", () => {
  it('reaches exactly the registered servers when dialing etcd:///<prefix>/api/', async (ctx) => {
    skipUnlessRunnable(ctx);
    const client = goClient(`etcd:///${env.REGISTRY_PREFIX}/api/`);
    const expected = api.map((t) => t.server.addr).sort();
    await warm(client, expected);
    const batch = await client.call(60);
    expect(batch.errors).toEqual([]);
    expect(Object.keys(batch.peers).sort()).toEqual(expected);
    for (const addr of expected) expect(batch.peers[addr]).toBeGreaterThanOrEqual(10);
  });

  it('follows a stop: once the deregister handler returned, calls soon stop reaching the stopped server, without errors', async (ctx) => {
    skipUnlessRunnable(ctx);
    const client = goClient(`etcd:///${env.REGISTRY_PREFIX}/api/`);
    await warm(
      client,
      api.map((t) => t.server.addr),
    );
    const [, stopped, ...rest] = api as [unknown, (typeof api)[number], ...(typeof api)[number][]];
    const running = [api[0]!.server.addr, ...rest.map((t) => t.server.addr)].sort();

    const outcome = await handlers.deregister(stopped.task.stop(), lambdaContext('deregister'));
    expect(outcome).toMatchObject({ action: 'removed' });
    // grpc-go applies a resolver update on its own goroutines, so a call made the same instant
    // may still be picked from the old list: wait (briefly) for a batch without it.
    const deadline = Date.now() + 5000;
    let batch = await client.call(10);
    while (batch.peers[stopped.server.addr] && Date.now() < deadline) batch = await client.call(10);
    const after = await client.call(60);
    expect([...batch.errors, ...after.errors]).toEqual([]);
    expect(Object.keys(after.peers).sort()).toEqual(running);

    // ECS then stops the container; the Go client keeps working.
    await stopped.server.stop();
    expect((await client.call(30)).errors).toEqual([]);
  });

  it('is reached by the TypeScript resolver too (one registry, both languages)', async (ctx) => {
    skipUnlessRunnable(ctx);
    registerEtcdResolver({ hosts: env.ETCD_ENDPOINTS! });
    const client = healthClient(`etcd:///${env.REGISTRY_PREFIX}/api`, roundRobin);
    try {
      await callMany(client, 1, { waitForReady: true });
      const running = [api[0]!, api[2]!].map((t) => t.server.addr).sort();
      const { byPeer, errors } = await callMany(client, 40);
      expect(errors).toEqual([]);
      expect([...byPeer.keys()].sort()).toEqual(running);
    } finally {
      client.close();
    }
  });

  it("reaches grpc-js servers once it sends the service name as :authority (Node's HTTP/2 refuses grpc-go's default, the target path)", async (ctx) => {
    skipUnlessRunnable(ctx);
    const node = await startBackend('node');
    nodeServers.push(node);
    await registerTask(handlers, fleet, 'node-api', node.port);
    const target = `etcd:///${env.REGISTRY_PREFIX}/node-api/`;

    const refused = await goClient(target).call(3);
    expect(refused.errors).toEqual(Array(3).fill(expect.stringContaining('PROTOCOL_ERROR')));
    const named = await goClient(target, { authority: 'node-api' }).call(3);
    expect(named).toEqual({ calls: 3, peers: { [node.addr]: 3 }, errors: [] });
  });

  it('also reaches api-admin when dialed without the trailing slash — why Go clients must dial etcd:///<prefix>/<service>/', async (ctx) => {
    skipUnlessRunnable(ctx);
    const client = goClient(`etcd:///${env.REGISTRY_PREFIX}/api`);
    await warm(client, [admin.addr]);
    const batch = await client.call(30);
    expect(batch.peers[admin.addr]).toBeGreaterThan(0);
  });
});

describe("etcd's Go resolver with a task published at an IPv6 address", () => {
  it('reaches a Go server on [::1] (an IPv6-only container instance, ENDPOINT_ADDRESS_FAMILY=ipv4 default)', async (ctx) => {
    skipUnlessRunnable(ctx);
    const v6fleet = new LocalFleet(aws, 'v6only');
    // No IPv4 address: the instance's IPv6 address is the one its tasks are reached at.
    aws.putContainerInstance(v6fleet.containerInstanceArn, 'i-0a6e0000000000001', '', '::1');
    const server = await startGoServer(programs, { ipv6: true });
    servers.push(server);
    const { keys } = await registerTask(handlers, v6fleet, 'api-v6', server.port);
    expect(keys).toHaveLength(1);
    const client = goClient(`etcd:///${env.REGISTRY_PREFIX}/api-v6/`);
    await warm(client, [server.addr]);
    expect(await client.call(10)).toEqual({ calls: 10, peers: { [server.addr]: 10 }, errors: [] });
  });
});
