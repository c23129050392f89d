/**
 * What reading the ECS service's declared port costs (DescribeServices): S services of T tasks each
 * in one cluster, every task mapping two unmarked TCP ports beside an unknown sidecar (so the
 * registrar must ask the service which port it serves), against a marked fleet (appProtocol grpc:
 * never asked). Counts, per registration and per renew tick: DescribeServices calls, and every ECS
 * read. Runs in this process against a local etcd and the local ECS endpoint.
 *
 *   npx tsx bench/declared-ports.ts [services] [tasksPerService]   (also: npm run bench -- declared-ports)
 */
import { loadConfig } from '../lib/config';
import { AwsEcsReader } from '../lib/ecs/api';
import { loadEc2 } from '../lib/ecs/ec2-loader';
import { createEtcdClient } from '../lib/etcd/client';
import { Registry } from '../lib/etcd/registry';
import { Registrar } from '../lib/registrar';
import { fargateEvent } from '../test/kit/events';
import { LocalAws } from '../test/kit/local-aws';
import { startLocalEtcd } from '../test/kit/local-etcd';
import type { Json } from './support';
import { renewTasks } from '../lib/renew/run';

const ACCOUNT = 'arn:aws:ecs:us-west-2:111122223333';
const quiet = { info() {}, warn() {}, error() {} };

export async function benchDeclaredPorts(services = 20, tasksPerService = 50): Promise<Json[]> {
  const etcd = await startLocalEtcd();
  const aws = await new LocalAws().start();
  Object.assign(process.env, aws.sdkEnv());
  const results: Json[] = [];
  try {
    for (const marked of [false, true]) {
      const ns = `bench-${marked ? 'marked' : 'declared'}`;
      const config = loadConfig({
        ETCD_ENDPOINTS: etcd.endpoint,
        REGISTRY_PREFIX: `${ns}/services`,
        STATE_PREFIX: `${ns}/registrar`,
        CLUSTERS: 'FargateCluster',
      });
      const events: Json[] = [];
      aws.tasks.clear(); // each fleet alone in the cluster
      for (let s = 0; s < services; s++) {
        const family = `${ns}-svc${s}`;
        const taskDefinitionArn = `${ACCOUNT}:task-definition/${family}:1`;
        const app = {
          name: 'app',
          image: 'me/app:1',
          portMappings: [{ containerPort: 9090 }, { containerPort: 50051, ...(marked ? { appProtocol: 'grpc' } : {}) }],
        };
        const sidecar = { name: 'collector', image: 'me/collector:1', portMappings: [{ containerPort: 4317 }] };
        aws.putTaskDefinition({
          taskDefinitionArn,
          family,
          networkMode: 'awsvpc',
          containerDefinitions: [sidecar, app],
        });
        aws.putService('FargateCluster', {
          serviceName: family,
          loadBalancers: [{ containerName: 'app', containerPort: 50051 }],
        });
        for (let t = 0; t < tasksPerService; t++) {
          const e = fargateEvent(s * tasksPerService + t, { salt: marked ? 'm' : 'd' });
          const detail = {
            ...e.detail,
            group: `service:${family}`,
            taskDefinitionArn,
            containers: ['collector', 'app'].map((name) => ({ name, lastStatus: 'RUNNING' })),
          };
          aws.putTaskFromDetail(detail);
          events.push({ ...e, detail });
        }
      }
      const client = createEtcdClient(config);
      const ecs = new AwsEcsReader(undefined, { ec2: loadEc2 });
      const registrar = new Registrar({
        config,
        etcd: client,
        registry: new Registry(client, config),
        ecs,
        log: quiet,
      });
      const reads = () => Object.values(ecs.calls).reduce((a, b) => a + b, 0) - ecs.calls.throttled;
      // Events arrive concurrently, as Lambda runs them (batches of 50).
      for (let i = 0; i < events.length; i += 50)
        await Promise.all(events.slice(i, i + 50).map((e) => registrar.registerEvent(e)));
      const afterRegister = { describeServices: ecs.calls.describeServices, reads: reads() };
      await renewTasks(registrar);
      const tick = {
        describeServices: ecs.calls.describeServices - afterRegister.describeServices,
        reads: reads() - afterRegister.reads,
      };
      // A cold process (new reader, empty caches) whose tick repairs every task (records lost).
      await client.delete().prefix(`${ns}/`);
      const coldEcs = new AwsEcsReader(undefined, { ec2: loadEc2 });
      const cold = new Registrar({
        config,
        etcd: client,
        registry: new Registry(client, config),
        ecs: coldEcs,
        log: quiet,
      });
      const summary = await renewTasks(cold);
      results.push({
        figure: 'declared_port_reads',
        fleet: marked ? 'appProtocol grpc marked' : 'unmarked, port declared by the ECS service',
        services,
        tasks: events.length,
        register_describe_services: afterRegister.describeServices,
        register_describe_services_per_task: Number((afterRegister.describeServices / events.length).toFixed(4)),
        register_ecs_reads_per_task: Number((afterRegister.reads / events.length).toFixed(4)),
        tick_describe_services: tick.describeServices,
        tick_ecs_reads: tick.reads,
        cold_repair_tick_repaired: summary.repaired,
        cold_repair_tick_describe_services: coldEcs.calls.describeServices,
        cold_repair_tick_ecs_reads: Object.values(coldEcs.calls).reduce((a, b) => a + b, 0) - coldEcs.calls.throttled,
      });
      client.close();
    }
  } finally {
    await aws.stop();
    await etcd.stop();
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [services, tasks] = process.argv.slice(2).map(Number);
  for (const line of await benchDeclaredPorts(services || undefined, tasks || undefined))
    console.log(JSON.stringify(line));
  process.exit(0);
}
