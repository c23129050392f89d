/**
 * The main job, locally: starts its own etcd and a local ECS/EC2 endpoint, replays ECS events
 * through the register, renew and deregister functions (the real handlers, with a Lambda context),
 * and after each step prints the registry the way a gRPC client resolving `etcd:///<prefix>/<service>/`
 * sees it.
 *
 *   npm run demo
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { parseEndpoint } from '../lib/discovery/parse';
import { LocalAws } from './local-aws';
import { startLocalEtcd } from './local-etcd';

type Json = Record<string, any>;
const root = join(import.meta.dirname, '..');
const event = (name: string): Json => JSON.parse(readFileSync(join(root, 'test/fixtures/events', `${name}.json`), 'utf8')) as Json;
const step = (title: string) => console.log(`\n\x1b[1m▶ ${title}\x1b[0m`);

const context = (name: string) => ({
  functionName: name,
  awsRequestId: `demo-${Date.now()}`,
  getRemainingTimeInMillis: () => 10_000,
});

async function main() {
  const etcd = await startLocalEtcd();
  const aws = await new LocalAws().start();
  const definitions = (JSON.parse(readFileSync(join(root, 'test/fixtures/task-definitions.json'), 'utf8')) as { definitions: Json[] }).definitions;
  for (const definition of definitions) aws.putTaskDefinition(definition);
  Object.assign(process.env, aws.sdkEnv(), { ETCD_ENDPOINTS: etcd.endpoint, POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN' });
  console.log(`local etcd ${etcd.endpoint}, local ECS/EC2 endpoint ${aws.endpoint}`);

  const { handler: register } = await import('../functions/register');
  const { handler: deregister } = await import('../functions/deregister');
  const { handler: renew } = await import('../functions/renew');
  const client = new Etcd3({ hosts: etcd.endpoint });

  const show = async () => {
    const res = await client.getAll().prefix('services/').strings();
    const services = new Map<string, string[]>();
    for (const [key, value] of Object.entries(res)) {
      const service = key.split('/')[1]!;
      const endpoint = parseEndpoint(key, value);
      services.set(service, [...(services.get(service) ?? []), endpoint ? endpoint.addr : '(unparseable)']);
    }
    if (services.size === 0) console.log('  registry: (empty)');
    for (const [service, addrs] of [...services].sort()) console.log(`  etcd:///services/${service}/ → ${addrs.sort().join(', ')}`);
  };
  const say = (result: unknown) => console.log(`  result: ${JSON.stringify(result)}`);

  try {
    const fargate = event('fargate-awsvpc-running-ecs-devguide');
    aws.putTaskFromDetail(fargate.detail);
    step('Fargate task RUNNING (awsvpc: ENI address + task definition port) → register');
    say(await register(fargate, context('register') as never));
    await show();

    step('The same event delivered again → register (duplicate: nothing changes)');
    say(await register(fargate, context('register') as never));

    step('An older event of that task arrives late → register (stale: nothing changes)');
    say(await register({ ...fargate, id: 'late', detail: { ...fargate.detail, version: 3 } }, context('register') as never));

    const bridge = event('ec2-running-with-overrides-stratusgrid');
    const described = structuredClone(bridge.detail);
    described.containers[0].networkBindings = [{ bindIP: '0.0.0.0', containerPort: 8080, hostPort: 32768, protocol: 'tcp' }];
    aws.putTaskFromDetail(described);
    aws.putContainerInstance(bridge.detail.containerInstanceArn, 'i-0123456789abcdef0', '172.31.12.34');
    step('EC2 bridge task RUNNING; the 2016-era event has no bindings → register asks ECS, host IP from EC2');
    say(await register(bridge, context('register') as never));
    await show();

    const gated = event('fargate-stopped-essential-container-exited-fivexl');
    const running = {
      ...gated,
      id: 'gated-running',
      detail: {
        ...gated.detail,
        version: 3,
        lastStatus: 'RUNNING',
        desiredStatus: 'RUNNING',
        stoppedAt: undefined,
        stopCode: undefined,
        containers: gated.detail.containers.map((c: Json) => ({ ...c, lastStatus: 'RUNNING', exitCode: undefined })),
      },
    };
    aws.putTaskFromDetail(running.detail);
    step('Task whose app container has a health check RUNNING, not yet HEALTHY → register (held back: pending)');
    say(await register(running, context('register') as never));
    await show();

    const lost = structuredClone(fargate.detail);
    lost.taskArn = lost.taskArn.replace(/[0-9a-f]{8}$/, '0000beef');
    lost.attachments[0].details[3].value = '10.0.0.140';
    aws.putTaskFromDetail(lost);
    aws.updateTask(running.detail.taskArn, { healthStatus: 'HEALTHY' });
    step('Renew tick: ECS now says the gated task is HEALTHY, and a task whose event was lost is running');
    say(await renew({ source: 'aws.events', 'detail-type': 'Scheduled Event' }, context('renew') as never));
    await show();

    step('ECS stops the first Fargate task (desiredStatus STOPPED) → deregister');
    say(await deregister({ ...fargate, id: 'stopping', detail: { ...fargate.detail, version: 5, desiredStatus: 'STOPPED' } }, context('deregister') as never));
    aws.updateTask(fargate.detail.taskArn, { desiredStatus: 'STOPPED', lastStatus: 'STOPPED' });
    await show();

    step('A RUNNING event of the stopped task arrives late → register (stopped: nothing changes)');
    say(await register({ ...fargate, id: 'late-running', detail: { ...fargate.detail, version: 6 } }, context('register') as never));

    step('Renew tick: every remaining lease renewed');
    say(await renew({}, context('renew') as never));
    console.log('\nWhat gRPC clients resolve now:');
    await show();
  } finally {
    client.close();
    await aws.stop();
    await etcd.stop();
  }
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
