/**
 * The handlers claim their state namespace at their first invocation (lib/handler/plumbing.ts):
 * one owned by another deployment makes every function fail, naming both, and write nothing.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors';
import { prefixEnd } from '../../lib/etcd/registry';
import { loadEvent } from '../kit/events';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import type { LocalAws } from '../kit/local-aws';
import { startFunctions, type Functions } from '../kit/platform';
import { testEnv } from '../support/harness';

let aws: LocalAws;
let env: Record<string, string>;
let functions: Functions;
let client: Etcd3;
const owner = { stage: 'prod', region: 'eu-west-1', account: '123456789012', claimedAt: '2026-01-01T00:00:00.000Z' };

beforeAll(async () => {
  env = testEnv({ STAGE: 'dev', ACCOUNT_ID: '111122223333', POWERTOOLS_LOG_LEVEL: 'SILENT' });
  client = new Etcd3({ hosts: env.ETCD_ENDPOINTS! });
  await client.put(`${env.STATE_PREFIX}/owner`).value(JSON.stringify(owner));
  ({ aws, functions } = await startFunctions({ ...env, AWS_REGION: 'us-west-2' }));
});
afterAll(async () => {
  await client.delete().prefix(`${env.STATE_PREFIX}/`);
  client.close();
  await aws.stop();
});

describe('a namespace another deployment owns', () => {
  it('fails register, deregister and renew at start, naming both deployments, and nothing is written', async () => {
    const running = loadEvent('fargate-awsvpc-running-ecs-devguide');
    aws.putTaskFromDetail(running.detail);
    // Every key of this test's namespace root (its state and registry prefixes both lie under it).
    const root = `${env.STATE_PREFIX!.split('/')[0]}/`;
    const snapshot = async () =>
      (await client.kv.range({ key: Buffer.from(root), range_end: prefixEnd(root) })).kvs.map((kv) => [
        kv.key.toString(),
        kv.mod_revision,
      ]);
    const before = await snapshot();
    const calls = [
      () => functions.register(running, lambdaContext('register')),
      () => functions.deregister(loadEvent('fargate-stopping-desired-stopped'), lambdaContext('deregister')),
      () => functions.renew(scheduledEvent, lambdaContext('renew')),
    ];
    for (const call of calls) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain(
        'is owned by stage prod, region eu-west-1, account 123456789012 (since 2026-01-01T00:00:00.000Z), ' +
          'not by this deployment (stage dev, region us-west-2, account 111122223333)',
      );
    }
    expect(await snapshot()).toEqual(before);
    expect(aws.count('DescribeTasks') + aws.count('DescribeTaskDefinition') + aws.count('ListTasks')).toBe(0);
  });
});
