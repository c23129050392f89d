/**
 * One transaction, several keys of one service: etcd gives them all the same revision. A task
 * running two copies of a server in one bridge task (two containers labelled with the same
 * `registrar.service`, two host ports) is registered and stopped by the real handlers, each in one
 * transaction; `watchService` and the grpc-js resolver, started before the task, must show both
 * endpoints, then none.
 */
import { status } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../lib/config';
import { registerEtcdResolver, roundRobin } from '../../../lib/discovery/grpc-resolver';
import { watchService } from '../../../lib/discovery/watcher';
import { createEtcdClient } from '../../../lib/etcd/client';
import type { RegisterOutcome } from '../../../lib/outcomes';
import type { LocalAws } from '../../kit/local-aws';
import { callMany, check, healthClient, startBackend, type Backend, type HealthClient } from '../../kit/local-grpc';
import { testEnv } from '../../support/harness';
import { lambdaContext } from '../../kit/lambda';
import { startFunctions, type Functions } from '../../kit/platform';

const CLUSTER_ARN = 'arn:aws:ecs:us-east-1:123456789012:cluster/twins';
const INSTANCE_ARN = 'arn:aws:ecs:us-east-1:123456789012:container-instance/twins/0123456789abcdef0123456789abcdef';
const DEFINITION_ARN = 'arn:aws:ecs:us-east-1:123456789012:task-definition/twins:1';
const TASK_ARN = 'arn:aws:ecs:us-east-1:123456789012:task/twins/7a1b2c3d4e5f60718293a4b5c6d7e8f9';

let aws: LocalAws;
let env: Record<string, string>;
let functions: Functions;
let etcd: Etcd3;
let backends: Backend[] = [];
let grpcClient: HealthClient | undefined;

beforeAll(async () => {
  env = testEnv({
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ALLOW_LOOPBACK_ENDPOINTS: 'true',
  });
  ({ aws, functions } = await startFunctions(env));
  etcd = createEtcdClient(loadConfig({ ...process.env, ...env }));
  registerEtcdResolver(etcd, { scheme: 'etcd-twins' });
  backends = await Promise.all(['one', 'two'].map((name) => startBackend(name)));
  aws.putContainerInstance(INSTANCE_ARN, 'i-0123456789abcdef0', '127.0.0.1');
  const server = (name: string) => ({
    name,
    essential: true,
    portMappings: [{ containerPort: 50051, hostPort: 0, protocol: 'tcp' }],
    dockerLabels: { 'registrar.service': 'api' },
  });
  aws.putTaskDefinition({
    taskDefinitionArn: DEFINITION_ARN,
    family: 'twins',
    revision: 1,
    networkMode: 'bridge',
    containerDefinitions: [server('one'), server('two')],
  });
});
afterAll(async () => {
  grpcClient?.close();
  etcd?.close();
  await Promise.all(backends.map((b) => b.stop()));
  await aws?.stop();
});

/** The task's event at `version`: containers `one` and `two` on the two backends' ports. */
function event(version: number, desiredStatus: 'RUNNING' | 'STOPPED') {
  const detail = {
    taskArn: TASK_ARN,
    clusterArn: CLUSTER_ARN,
    containerInstanceArn: INSTANCE_ARN,
    taskDefinitionArn: DEFINITION_ARN,
    group: 'service:twins',
    launchType: 'EC2',
    version,
    lastStatus: 'RUNNING',
    desiredStatus,
    startedAt: new Date().toISOString(),
    containers: backends.map((b) => ({
      name: b.name,
      lastStatus: 'RUNNING',
      networkBindings: [{ bindIP: '0.0.0.0', containerPort: 50051, hostPort: b.port, protocol: 'tcp' }],
    })),
  };
  return {
    version: '0',
    id: `twins-${version}`,
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [TASK_ARN],
    detail,
  };
}

describe('a task with two keys in one service, written in one transaction', () => {
  it('shows both endpoints to watchService and the grpc-js resolver, and neither once it stopped', {
    timeout: 30_000,
  }, async () => {
    const directory = `${env.REGISTRY_PREFIX}/api/`;
    const watcher = watchService(etcd, directory, { backoff: { initialMs: 50, maxMs: 500 } });
    grpcClient = healthClient(`etcd-twins:///${directory}`, roundRobin);
    try {
      expect(await watcher.ready()).toEqual([]);
      await expect(check(grpcClient)).rejects.toMatchObject({ code: status.UNAVAILABLE });

      const running = event(3, 'RUNNING');
      aws.putTaskFromDetail(running.detail);
      const outcome = (await functions.register(running, lambdaContext('register'))) as RegisterOutcome;
      expect(outcome).toMatchObject({ action: 'registered' });
      expect(outcome.keys).toHaveLength(2);
      // Both keys carry the revision of the one transaction that wrote them.
      const written = await etcd.getAll().prefix(directory).exec();
      expect(new Set(written.kvs.map((kv) => kv.mod_revision)).size).toBe(1);

      const both = backends.map((b) => b.addr).sort();
      await vi.waitFor(() => expect(watcher.addresses()).toEqual(both));
      await vi.waitFor(async () => {
        const { byPeer, errors } = await callMany(grpcClient!, 20, { waitForReady: true });
        expect(errors).toEqual([]);
        expect([...byPeer.keys()].sort()).toEqual(both);
      });

      aws.updateTask(TASK_ARN, { version: 4, desiredStatus: 'STOPPED' });
      expect(await functions.deregister(event(4, 'STOPPED'), lambdaContext('deregister'))).toMatchObject({
        action: 'removed',
        keys: outcome.keys,
      });
      await vi.waitFor(() => expect(watcher.addresses()).toEqual([]));
      await vi.waitFor(() => expect(check(grpcClient!)).rejects.toMatchObject({ code: status.UNAVAILABLE }));
      const calls = backends.map((b) => b.calls);
      const { errors } = await callMany(grpcClient, 10);
      expect(errors.map((e) => e.code)).toEqual(Array(10).fill(status.UNAVAILABLE));
      expect(backends.map((b) => b.calls)).toEqual(calls);
    } finally {
      watcher.close();
    }
  });
});
