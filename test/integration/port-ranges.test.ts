/**
 * Port-range mappings through the real handlers, real etcd and the local ECS endpoint: a task whose
 * containers report `{containerPortRange, hostPortRange}` bindings (no containerPort) publishes every
 * single port it has, says which ranges it left out, and stays registered across a renew tick
 * (which reads the same task back from DescribeTasks).
 */
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { createEtcdClient } from '../../lib/etcd/client';
import { prefixEnd } from '../../lib/etcd/registry';
import type { LocalAws } from '../kit/local-aws';
import { loadEvent, withDetail } from '../kit/events';
import { testEnv } from '../support/harness';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import { startFunctions, type Functions } from '../kit/platform';

let aws: LocalAws;
let env: Record<string, string>;
let handlers: Functions;
let etcd: Etcd3;

beforeAll(async () => {
  env = testEnv({ POWERTOOLS_LOG_LEVEL: 'SILENT' });
  ({ aws, functions: handlers } = await startFunctions(env));
  etcd = createEtcdClient(loadConfig({ ...process.env, ...env }));
});
afterAll(async () => {
  etcd?.close();
  await aws?.stop();
});

const event = loadEvent('ec2-bridge-running-port-range');
const taskId = (event.detail.taskArn as string).split('/').pop()!;

async function endpoints(): Promise<Record<string, string>> {
  const prefix = `${env.REGISTRY_PREFIX}/`;
  const res = await etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
  return Object.fromEntries(res.kvs.map((kv) => [kv.key.toString(), JSON.parse(kv.value.toString()).Addr as string]));
}

describe('a task with port-range bindings', () => {
  it('is registered with its single port, and the result names each range it left out', async () => {
    aws.putContainerInstance(event.detail.containerInstanceArn, 'i-0a1b2c3d4e5f60718', '172.31.7.8');
    aws.putTaskFromDetail(event.detail);
    const result = await handlers.register(event, lambdaContext('register'));
    expect(result).toMatchObject({
      action: 'registered',
      keys: [`${env.REGISTRY_PREFIX}/media-bridge/${taskId}:32768`],
      skipped: [
        {
          container: 'media',
          reason: expect.stringMatching(/^port range 40000-40009 \(host 49153-49162\) is not published/),
        },
        {
          container: 'relay',
          reason: expect.stringMatching(/^port range 41100-41104 \(host 49300-49304\) is not published/),
        },
      ],
    });
    expect(await endpoints()).toEqual({ [`${env.REGISTRY_PREFIX}/media-bridge/${taskId}:32768`]: '172.31.7.8:32768' });
  });

  it('stays registered across a renew tick that reads it back from DescribeTasks', async () => {
    const described = aws.count('DescribeTasks');
    const summary = await handlers.renew(scheduledEvent, lambdaContext('renew'));
    expect(aws.count('DescribeTasks')).toBeGreaterThan(described);
    expect(summary).toMatchObject({ records: 1, renewed: 1, failed: 0 });
    expect(Object.values(await endpoints())).toEqual(['172.31.7.8:32768']);
  });

  it('still rejects a range that runs backwards, writing nothing', async () => {
    const backwards = withDetail(event, {
      taskArn: event.detail.taskArn.replace(taskId, '0000000000000000000000000000beef'),
      containers: event.detail.containers.map((c: Record<string, unknown>) =>
        c.name === 'relay'
          ? {
              ...c,
              networkBindings: [
                { bindIP: '0.0.0.0', containerPortRange: '41104-41100', hostPortRange: '49300-49304', protocol: 'tcp' },
              ],
            }
          : c,
      ),
    });
    aws.putTaskFromDetail(backwards.detail);
    await expect(handlers.register(backwards, lambdaContext('register'))).rejects.toThrow(
      /containerPortRange: "41104-41100" is not a port range/,
    );
    expect(Object.keys(await endpoints())).toEqual([`${env.REGISTRY_PREFIX}/media-bridge/${taskId}:32768`]);
  });
});
