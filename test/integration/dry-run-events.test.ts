/**
 * The register and deregister functions with DRY_RUN=true, on an etcd of their own (so leases can
 * be counted): they decide, log at INFO what they would write or delete, and write nothing — no
 * lease grant, no transaction, no revoke.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { loadConfig } from '../../lib/config';
import { AwsEcsReader } from '../../lib/ecs/api';
import { parseTaskStateChange } from '../../lib/ecs/event';
import { Registry } from '../../lib/etcd/registry';
import type { RegisterOutcome } from '../../lib/outcomes';
import { Registrar } from '../../lib/registrar';
import { memoryLog } from '../support/harness';
import { captureLogs, type CapturedLogs } from '../support/capture-logs';
import { lambdaContext, sqsEvent } from '../kit/lambda';
import { startIsolated, type Isolated } from '../kit/platform';
import { fargateEvent, transition } from '../kit/events';
import { loadEc2 } from '../../lib/ecs/ec2-loader';

let p: Isolated;
let logs: CapturedLogs;
beforeAll(async () => {
  p = await startIsolated({ DRY_RUN: 'true', POWERTOOLS_LOG_LEVEL: 'INFO' });
  logs = captureLogs();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await p?.stop();
});

/** Every key with its mod revision, and every lease: what a write of any kind would change. */
async function snapshot() {
  const kvs = (await p.client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]) })).kvs;
  const leases = (await p.client.leaseClient.leaseLeases()).leases.map((l) => l.ID).sort();
  return { keys: Object.fromEntries(kvs.map((kv) => [kv.key.toString(), kv.mod_revision])), leases };
}
const info = (message: string) => logs.lines().filter((l) => l.level === 'INFO' && l.message === message);

it('register decides and logs what it would write, and writes nothing (no lease either)', async () => {
  const event = fargateEvent(1);
  p.aws.putTaskFromDetail(event.detail);
  const outcome = (await p.functions.register(event, lambdaContext('register'))) as RegisterOutcome;
  const key = `services/sample-fargate/${event.detail.taskArn.split('/').pop()}:50051`;
  expect(outcome).toMatchObject({ action: 'registered', keys: [key], dryRun: true });
  expect(await snapshot()).toEqual({ keys: {}, leases: [] });
  expect(info('dry run: register would write the task on a new lease')).toEqual([
    expect.objectContaining({
      taskArn: event.detail.taskArn,
      state: 'registered',
      put: [{ key, value: expect.stringContaining('"Addr":"10.0.0.1:50051"') }],
    }),
  ]);

  const batch = await p.functions.register(sqsEvent([fargateEvent(2), fargateEvent(3)]), lambdaContext('register'));
  expect(batch).toEqual({ batchItemFailures: [] });
  expect(await snapshot()).toEqual({ keys: {}, leases: [] });
});

it('deregister decides and logs what it would delete, and deletes nothing', async () => {
  // A task registered for real, by a registrar that is not in dry run.
  const config = loadConfig({
    ETCD_ENDPOINTS: p.etcd.endpoint,
    REGISTRY_PREFIX: 'services',
    STATE_PREFIX: 'registrar',
  });
  const registry = new Registry(p.client, config);
  const writer = new Registrar({
    config,
    etcd: p.client,
    registry,
    ecs: new AwsEcsReader(undefined, { ec2: loadEc2 }),
    log: memoryLog(),
  });
  const running = fargateEvent(4);
  p.aws.putTaskFromDetail(running.detail);
  const { keys } = await writer.register(parseTaskStateChange(running).task);
  const before = await snapshot();
  expect(before.leases).toHaveLength(1);

  const stop = transition(running, 5, 'RUNNING', 'STOPPED');
  expect(await p.functions.deregister(stop, lambdaContext('deregister'))).toMatchObject({
    action: 'removed',
    keys,
    dryRun: true,
  });
  expect(await snapshot()).toEqual(before);
  expect(info('dry run: deregister would write a tombstone and delete the task')).toEqual([
    expect.objectContaining({
      taskArn: running.detail.taskArn,
      deleteKeys: keys,
      deleteRecord: expect.stringContaining('registrar/tasks/'),
      revokeLease: before.leases[0],
    }),
  ]);
});
