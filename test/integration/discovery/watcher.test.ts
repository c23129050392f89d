/**
 * The discovery client against the real etcd: the first list, every value and key format the
 * registrar writes, changes after it, nothing missed between the Get and the watch, and recovery
 * after a compaction and after a lost connection.
 */
import { randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { KeyFormat, ValueFormat } from '../../../lib/config';
import type { EtcdWatchError } from '../../../lib/discovery/errors';
import { endpointKey, endpointValue, type Endpoint, type EndpointMetadata } from '../../../lib/keys';
import { watchService, type ServiceWatcher } from '../../../lib/discovery/watcher';
import { startLocalEtcd, type LocalEtcd } from '../../kit/local-etcd';
import { startTcpProxy, type TcpProxy } from '../../kit/tcp-proxy';

const metadata: EndpointMetadata = {
  taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/c/t',
  cluster: 'c',
  taskDefinition: 'td:1',
  container: 'app',
  version: 3,
};
const value = (
  ip: string,
  port: number,
  format: (typeof ValueFormat)[keyof typeof ValueFormat] = ValueFormat.EtcdNaming,
) => endpointValue(format, { service: 'api', container: 'app', containerPort: 50051, ip, port }, metadata);

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

function client(hosts = inject('etcdEndpoint')): Etcd3 {
  const etcd = new Etcd3({ hosts });
  cleanup.push(() => etcd.close());
  return etcd;
}

/** A unique registry prefix and the `api` directory under it. */
function namespace() {
  const prefix = `t-${randomUUID().slice(0, 8)}/services`;
  return { prefix, dir: `${prefix}/api/`, sibling: `${prefix}/api-admin/` };
}

/** A watcher that records every list it was handed and every error. */
function recordingWatcher(etcd: Etcd3, directory: string) {
  const lists: string[][] = [];
  const errors: EtcdWatchError[] = [];
  const watcher: ServiceWatcher = watchService(etcd, directory, {
    onChange: (endpoints) => lists.push(endpoints.map((e) => e.addr)),
    onError: (err) => errors.push(err),
    backoff: { initialMs: 50, maxMs: 500 },
  });
  cleanup.push(() => watcher.close());
  return { watcher, lists, errors };
}

describe('watchService', () => {
  it('lists every value and key format the registrar writes, and nothing of a service sharing the name prefix', async () => {
    const etcd = client();
    const { prefix, dir, sibling } = namespace();
    const at = (ip: string, port: number): Endpoint => ({
      service: 'api',
      container: 'app',
      containerPort: 50051,
      ip,
      port,
    });
    await etcd
      .put(endpointKey({ registryPrefix: prefix, keyFormat: KeyFormat.Task }, 'task1', at('10.0.0.1', 50051)))
      .value(value('10.0.0.1', 50051));
    await etcd
      .put(endpointKey({ registryPrefix: prefix, keyFormat: KeyFormat.Addr }, 'task2', at('10.0.0.2', 50051)))
      .value(value('10.0.0.2', 50051, ValueFormat.Addr));
    await etcd.put(`${dir}task3:50051`).value(value('10.0.0.3', 50051, ValueFormat.Json));
    await etcd.put(`${dir}task4:50051`).value(JSON.stringify({ Op: 1, Addr: '10.0.0.4:50051' }));
    await etcd.put(`${dir}task5:50051`).value('not an endpoint');
    await etcd.put(`${sibling}task6:50051`).value(value('10.0.0.6', 50051));

    const { watcher, lists } = recordingWatcher(etcd, dir.slice(0, -1));
    expect(watcher.directory).toBe(dir);
    expect((await watcher.ready()).map((e) => e.addr)).toEqual(['10.0.0.1:50051', '10.0.0.2:50051', '10.0.0.3:50051']);
    expect(lists).toEqual([['10.0.0.1:50051', '10.0.0.2:50051', '10.0.0.3:50051']]);
    expect(watcher.endpoints().find((e) => e.addr === '10.0.0.1:50051')?.metadata).toMatchObject({
      taskArn: metadata.taskArn,
    });
  });

  it('reports an empty service as an empty list at once', async () => {
    const { watcher, lists } = recordingWatcher(client(), namespace().dir);
    expect(await watcher.ready()).toEqual([]);
    expect(lists).toEqual([[]]);
  });

  it('follows puts and deletes after the first list, and ignores the sibling service', async () => {
    const etcd = client();
    const { dir, sibling } = namespace();
    await etcd.put(`${dir}a:1`).value(value('10.0.0.1', 1));
    const { watcher, lists } = recordingWatcher(etcd, dir);
    await watcher.ready();
    await etcd.put(`${dir}b:2`).value(value('10.0.0.2', 2));
    await vi.waitFor(() => expect(watcher.addresses()).toEqual(['10.0.0.1:1', '10.0.0.2:2']));
    await etcd.put(`${sibling}c:3`).value(value('10.0.0.3', 3));
    await etcd.delete().key(`${dir}a:1`);
    await vi.waitFor(() => expect(watcher.addresses()).toEqual(['10.0.0.2:2']));
    expect(lists).toEqual([['10.0.0.1:1'], ['10.0.0.1:1', '10.0.0.2:2'], ['10.0.0.2:2']]);
  });

  it('misses nothing written between its Get and its watch', async () => {
    const etcd = client();
    const { dir } = namespace();
    await etcd.put(`${dir}a:1`).value(value('10.0.0.1', 1));
    const writer = client();
    const range = etcd.kv.range.bind(etcd.kv);
    const get = vi.spyOn(etcd.kv, 'range').mockImplementationOnce(async (...args) => {
      const res = await range(...args);
      // Lands after the Get's revision and before the watch exists.
      await writer.put(`${dir}b:2`).value(value('10.0.0.2', 2));
      await writer.delete().key(`${dir}a:1`);
      return res;
    });
    const { watcher, lists, errors } = recordingWatcher(etcd, dir);
    expect((await watcher.ready()).map((e) => e.addr)).toEqual(['10.0.0.1:1']);
    await vi.waitFor(() => expect(watcher.addresses()).toEqual(['10.0.0.2:2']));
    // Both changes came through the watch: one Get, no re-sync, no error.
    expect(get).toHaveBeenCalledTimes(1);
    expect(errors).toEqual([]);
    expect(lists[0]).toEqual(['10.0.0.1:1']);
    expect(lists.at(-1)).toEqual(['10.0.0.2:2']);
  });

  describe('on its own etcd (compaction would disturb other tests)', () => {
    let own: LocalEtcd;
    afterEach(() => own?.stop());

    it('re-syncs when the history after its Get was compacted away, and reports it', async () => {
      own = await startLocalEtcd();
      const etcd = client(own.endpoint);
      const { dir } = namespace();
      await etcd.put(`${dir}a:1`).value(value('10.0.0.1', 1));
      const range = etcd.kv.range.bind(etcd.kv);
      vi.spyOn(etcd.kv, 'range').mockImplementationOnce(async (...args) => {
        const res = await range(...args);
        await etcd.put(`${dir}b:2`).value(value('10.0.0.2', 2));
        const last = await etcd.put(`${dir}c:3`).value(value('10.0.0.3', 3)).exec();
        await etcd.kv.compact({ revision: last.header.revision, physical: true });
        return res;
      });
      const { watcher, errors } = recordingWatcher(etcd, dir);
      await watcher.ready();
      await vi.waitFor(() => expect(watcher.addresses()).toEqual(['10.0.0.1:1', '10.0.0.2:2', '10.0.0.3:3']));
      expect(errors.map((e) => e.message)).toEqual([
        expect.stringMatching(
          /^etcd: watch of .*api\/ failed: history compacted up to revision \d+; syncing again in \d+ ms$/,
        ),
      ]);
    });
  });

  describe('through a connection the test can cut', () => {
    let proxy: TcpProxy;
    afterEach(() => proxy?.close());

    it('reports a lost connection, keeps the last list, and re-syncs to what changed meanwhile', async () => {
      proxy = await startTcpProxy(inject('etcdEndpoint'));
      const etcd = client(proxy.endpoint);
      const direct = client();
      const { dir } = namespace();
      await direct.put(`${dir}a:1`).value(value('10.0.0.1', 1));
      await direct.put(`${dir}b:2`).value(value('10.0.0.2', 2));
      const { watcher, errors } = recordingWatcher(etcd, dir);
      await watcher.ready();

      proxy.cut();
      await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
      expect(watcher.addresses()).toEqual(['10.0.0.1:1', '10.0.0.2:2']);
      await direct.delete().key(`${dir}a:1`);
      await direct.put(`${dir}c:3`).value(value('10.0.0.3', 3));
      proxy.restore();

      await vi.waitFor(() => expect(watcher.addresses()).toEqual(['10.0.0.2:2', '10.0.0.3:3']), { timeout: 15_000 });
      expect(errors[0]!.message).toMatch(/^etcd: watch of .*api\/ failed: .*; syncing again in \d+ ms$/);
      // Retries are spaced by the backoff, not a tight loop.
      expect(errors.length).toBeLessThan(40);
    });
  });

  it('stops calling back once closed', async () => {
    const etcd = client();
    const { dir } = namespace();
    const { watcher, lists } = recordingWatcher(etcd, dir);
    await watcher.ready();
    watcher.close();
    await etcd.put(`${dir}a:1`).value(value('10.0.0.1', 1));
    await new Promise((r) => setTimeout(r, 200));
    expect(lists).toEqual([[]]);
    await expect(recordingWatcher(etcd, dir).watcher.ready()).resolves.toHaveLength(1);
  });

  it('rejects ready() when closed before its first list', async () => {
    const { watcher } = recordingWatcher(client('http://127.0.0.1:1'), namespace().dir);
    watcher.close();
    await expect(watcher.ready()).rejects.toThrow(/closed before its first sync/);
  });
});
