/**
 * The grpc-js etcd resolver with real grpc-js servers on 127.0.0.1 and the real etcd: channels
 * dial exactly the endpoints under the service's directory, follow changes, fail fast when there
 * are none or etcd cannot be read, and leave nothing behind when closed.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { KeyFormat, ValueFormat } from '../../../lib/config';
import { registerEtcdResolver, roundRobin } from '../../../lib/discovery/grpc-resolver';
import { endpointKey, endpointValue, type Endpoint } from '../../../lib/keys';
import { findFreePort } from '../../kit/local-etcd';
import { callMany, check, healthClient, startBackend, type Backend, type HealthClient } from '../../kit/local-grpc';
import { startTcpProxy } from '../../kit/tcp-proxy';

const metadata = {
  taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/c/t',
  cluster: 'c',
  taskDefinition: 'td:1',
  container: 'app',
  version: 3,
};
let etcd: Etcd3;
const backends: Backend[] = [];
const clients: HealthClient[] = [];

beforeAll(() => {
  etcd = new Etcd3({ hosts: inject('etcdEndpoint') });
  registerEtcdResolver(etcd);
});
afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(backends.map((b) => b.stop()));
  etcd.close();
});

async function backend(name: string): Promise<Backend> {
  const started = await startBackend(name);
  backends.push(started);
  return started;
}

function client(target: string): HealthClient {
  const made = healthClient(target, roundRobin);
  clients.push(made);
  return made;
}

/** Publishes a backend the way the registrar does, in the given formats; returns its key. */
async function publish(
  prefix: string,
  service: string,
  b: Backend,
  format: { value?: ValueFormat; key?: KeyFormat } = {},
): Promise<string> {
  const endpoint: Endpoint = { service, container: 'app', containerPort: 50051, ip: '127.0.0.1', port: b.port };
  const key = endpointKey({ registryPrefix: prefix, keyFormat: format.key ?? KeyFormat.Task }, b.name, endpoint);
  await etcd.put(key).value(endpointValue(format.value ?? ValueFormat.EtcdNaming, endpoint, metadata));
  return key;
}

const prefix = () => `t-${randomUUID().slice(0, 8)}/services`;

describe('etcd resolver for grpc-js', () => {
  it('spreads round_robin calls over exactly the endpoints of the service, in every format, never a service sharing its name prefix', async () => {
    const p = prefix();
    const [a, b, c, admin] = (await Promise.all(['a', 'b', 'c', 'admin'].map(backend))) as [
      Backend,
      Backend,
      Backend,
      Backend,
    ];
    await publish(p, 'api', a);
    await publish(p, 'api', b, { value: ValueFormat.Addr, key: KeyFormat.Addr });
    await publish(p, 'api', c, { value: ValueFormat.Json });
    await publish(p, 'api-admin', admin);

    const { byPeer, errors } = await callMany(client(`etcd:///${p}/api`), 60, { waitForReady: true });
    expect(errors).toEqual([]);
    expect([...byPeer.keys()].sort()).toEqual([a.addr, b.addr, c.addr].sort());
    for (const server of [a, b, c]) expect(server.calls).toBeGreaterThanOrEqual(10);
    expect(admin.calls).toBe(0);
  });

  it('follows the service: a removed endpoint stops getting calls, an added one starts', async () => {
    const p = prefix();
    const [a, b, c] = (await Promise.all(['a', 'b', 'c'].map(backend))) as [Backend, Backend, Backend];
    const keyA = await publish(p, 'api', a);
    await publish(p, 'api', b);
    const api = client(`etcd:///${p}/api/`);
    await callMany(api, 10, { waitForReady: true });

    await etcd.delete().key(keyA);
    await vi.waitFor(async () => {
      const before = a.calls;
      await callMany(api, 20);
      expect(a.calls).toBe(before);
    });
    await publish(p, 'api', c);
    await vi.waitFor(async () => {
      await callMany(api, 20);
      expect(c.calls).toBeGreaterThan(0);
    });
    const { errors } = await callMany(api, 20);
    expect(errors).toEqual([]);
  });

  it('fails calls to an empty service fast with UNAVAILABLE, and answers a wait-for-ready call once an endpoint appears', async () => {
    const p = prefix();
    const empty = client(`etcd:///${p}/api`);
    const started = Date.now();
    await expect(check(empty, { deadlineMs: 5000 })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      details: `etcd has no endpoints under ${p}/api/`,
    });
    expect(Date.now() - started).toBeLessThan(2000);

    const late = await backend('late');
    const waiting = check(empty, { waitForReady: true, deadlineMs: 5000 });
    await publish(p, 'api', late);
    await expect(waiting).resolves.toBe(late.addr);
  });

  it('drops every endpoint when the service becomes empty', async () => {
    const p = prefix();
    const only = await backend('only');
    const key = await publish(p, 'api', only);
    const api = client(`etcd:///${p}/api`);
    await check(api, { waitForReady: true });
    await etcd.delete().key(key);
    await vi.waitFor(() => expect(check(api)).rejects.toMatchObject({ code: status.UNAVAILABLE }));
    const before = only.calls;
    const { errors } = await callMany(api, 10);
    expect(errors.map((e) => e.code)).toEqual(Array(10).fill(status.UNAVAILABLE));
    expect(only.calls).toBe(before);
  });

  it('reports an etcd it cannot read as UNAVAILABLE with the reason, instead of leaving calls waiting', async () => {
    registerEtcdResolver({ hosts: `http://127.0.0.1:${await findFreePort()}` }, { scheme: 'etcd-down' });
    const started = Date.now();
    await expect(check(client('etcd-down:///services/api'), { deadlineMs: 8000 })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      details: expect.stringMatching(/^etcd: get of services\/api\/ failed: .*syncing again in \d+ ms$/),
    });
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it('leaves no watch, timer or connection behind once its channel is closed', async () => {
    const p = prefix();
    const b = await backend('child');
    await publish(p, 'api', b);
    const proxy = await startTcpProxy(inject('etcdEndpoint'));
    try {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(import.meta.dirname, '../../support/resolver-child.ts'),
          proxy.endpoint,
          `etcd:///${p}/api`,
        ],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const line = new Promise<{ answer: string; openAtPrint: number }>((resolve) =>
        child.stdout.once('data', (chunk: Buffer) =>
          resolve({ ...JSON.parse(chunk.toString()), openAtPrint: proxy.open }),
        ),
      );
      const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [printed, code] = await Promise.all([line, exit]);
      clearTimeout(timer);
      expect(printed).toEqual({ answer: b.addr, openAtPrint: 0 });
      expect(code).toBe(0);
    } finally {
      await proxy.close();
    }
  });
});
