/**
 * The main job, locally. Starts its own etcd, a local ECS/EC2 endpoint and real gRPC servers
 * standing in for ECS tasks; replays their events through the register, deregister and renew
 * functions (the real handlers, with a Lambda context); and a gRPC client resolving
 * `etcd:///services/api` through etcd prints which servers answer — before and after a stop and an
 * unhealthy report. A rolling deploy of a health-checked service follows, through the register,
 * deregister and follow functions (follow-up messages on a local queue), with every state the
 * service goes through. Then it walks through the registrar's guarantees with sample ECS events,
 * printing after each step what a client resolving `etcd:///<prefix>/<service>/` gets.
 *
 *   npm run demo
 */
import { Etcd3 } from 'etcd3';
import type { RegisterOutcome } from '../lib/outcomes';
import { parseEndpoint } from '../lib/discovery/parse';
import { registerEtcdResolver, roundRobin } from '../lib/discovery/grpc-resolver';
import { loadEvent } from '../test/kit/events';
import { checkedTask, putCheckedDefinition, recordService } from '../test/kit/health-checked';
import { lambdaContext } from '../test/kit/lambda';
import { LocalAws, runningFromStopped } from '../test/kit/local-aws';
import { consumeQueue } from '../test/kit/local-sqs';
import { startLocalEtcd } from '../test/kit/local-etcd';
import { LocalFleet } from '../test/kit/local-fleet';
import {
  callMany,
  check,
  healthClient,
  keepCalling,
  startBackend,
  type Backend,
  type HealthClient,
} from '../test/kit/local-grpc';

type Json = Record<string, any>;
/** A sample event as ECS would emit it now (an old `time` would have register confirm it with ECS first). */
const event = (name: string): Json => ({ ...loadEvent(name), time: new Date().toISOString() });
const step = (title: string) => console.log(`\n\x1b[1m▶ ${title}\x1b[0m`);

/** `n` calls; prints how many of them each server answered. */
async function showAnswers(client: HealthClient, servers: readonly Backend[], n: number): Promise<void> {
  const { byPeer, errors } = await callMany(client, n);
  const answered = servers.map((s) => `${s.name} ${byPeer.get(s.addr) ?? 0}`).join(' · ');
  console.log(
    `  ${n} calls answered by: ${answered}${errors.length ? ` — ${errors.length} errors: ${errors[0]!.message}` : ''}`,
  );
}

async function main() {
  const etcd = await startLocalEtcd();
  const aws = (await new LocalAws().start()).putSampleTaskDefinitions();
  const followQueue = aws.createQueue('follow');
  Object.assign(process.env, aws.sdkEnv(), {
    FOLLOW_QUEUE_URL: followQueue,
    ETCD_ENDPOINTS: etcd.endpoint,
    ALLOW_LOOPBACK_ENDPOINTS: 'true',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
    POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
  });
  console.log(`local etcd ${etcd.endpoint}, local ECS/EC2 endpoint ${aws.endpoint}`);

  const { handler: register } = await import('../functions/register');
  const { handler: deregister } = await import('../functions/deregister');
  const { handler: renew } = await import('../functions/renew');
  const { handler: follow } = await import('../functions/follow');
  const client = new Etcd3({ hosts: etcd.endpoint });
  registerEtcdResolver({ hosts: etcd.endpoint });
  const servers: Backend[] = [];
  let grpcClient: HealthClient | undefined;

  const show = async () => {
    const res = await client.getAll().prefix('services/').strings();
    const services = new Map<string, string[]>();
    for (const [key, value] of Object.entries(res)) {
      const service = key.split('/')[1]!;
      const endpoint = parseEndpoint(key, value);
      services.set(service, [...(services.get(service) ?? []), endpoint ? endpoint.addr : '(unparseable)']);
    }
    if (services.size === 0) console.log('  registry: (empty)');
    for (const [service, addrs] of [...services].sort())
      console.log(`  etcd:///services/${service}/ → ${addrs.sort().join(', ')}`);
  };
  const say = (result: unknown) => console.log(`  result: ${JSON.stringify(result)}`);

  try {
    step(
      'Four gRPC servers start as ECS tasks on this host (EC2 bridge mode, dynamic host ports): three of "api", one of "api-admin"; ECS reports each RUNNING → register',
    );
    const fleet = new LocalFleet(aws);
    const tasks = [];
    for (const [service, name] of [
      ['api', 'api-1'],
      ['api', 'api-2'],
      ['api', 'api-3'],
      ['api-admin', 'api-admin-1'],
    ] as const) {
      const server = await startBackend(name);
      servers.push(server);
      const task = fleet.task(service, server.port);
      tasks.push(task);
      const outcome = (await register(task.running(), lambdaContext('register'))) as RegisterOutcome;
      console.log(
        `  ${server.name} on ${server.addr} → ${outcome.action} ${outcome.action === 'registered' ? outcome.keys.join(', ') : ''}`,
      );
    }
    const [api1, api2, api3] = servers as [Backend, Backend, Backend];

    step('A gRPC client (grpc-js) dials etcd:///services/api with round_robin');
    grpcClient = healthClient('etcd:///services/api', roundRobin);
    await check(grpcClient, { waitForReady: true });
    while ([api1, api2, api3].some((s) => s.calls === 0)) await check(grpcClient);
    await showAnswers(grpcClient, servers, 30);

    step(`ECS stops ${api2.name} (desiredStatus STOPPED) → deregister, while the client keeps calling`);
    const load = keepCalling(grpcClient);
    await new Promise((r) => setTimeout(r, 100));
    say(await deregister(tasks[1]!.stop(), lambdaContext('deregister')));
    const returned = performance.now();
    const atReturn = api2.calls;
    await new Promise((r) => setTimeout(r, 200));
    const { calls, errors } = await load.stop();
    const lastCall = api2.lastCallAt! - returned;
    console.log(
      `  ${api2.name} got its last call ${Math.abs(lastCall).toFixed(1)} ms ${lastCall < 0 ? 'before' : 'after'} the handler returned; ` +
        `${api2.calls - atReturn} calls after it; the client made ${calls} calls meanwhile, ${errors.length} failed`,
    );
    await api2.stop();
    await showAnswers(grpcClient, servers, 30);

    step(`ECS reports ${api3.name} UNHEALTHY → renew tick`);
    tasks[2]!.reportUnhealthy();
    say(await renew({ source: 'aws.events', 'detail-type': 'Scheduled Event' }, lambdaContext('renew')));
    await showAnswers(grpcClient, servers, 30);

    await rollingDeploy(aws, client, { register, deregister, follow }, followQueue);

    console.log("\n\x1b[1mThe registry's guarantees, with sample ECS events\x1b[0m");
    const fargate = event('fargate-awsvpc-running-ecs-devguide');
    aws.putTaskFromDetail(fargate.detail);
    step('Fargate task RUNNING (awsvpc: ENI address + task definition port) → register');
    say(await register(fargate, lambdaContext('register')));
    await show();

    step('The same event delivered again → register (duplicate: nothing changes)');
    say(await register(fargate, lambdaContext('register')));

    step('An older event of that task arrives late → register (stale: nothing changes)');
    say(
      await register({ ...fargate, id: 'late', detail: { ...fargate.detail, version: 3 } }, lambdaContext('register')),
    );

    const bridge = event('ec2-running-with-overrides-stratusgrid');
    const described = structuredClone(bridge.detail);
    described.containers[0].networkBindings = [
      { bindIP: '0.0.0.0', containerPort: 8080, hostPort: 32768, protocol: 'tcp' },
    ];
    aws.putTaskFromDetail(described);
    aws.putContainerInstance(bridge.detail.containerInstanceArn, 'i-0123456789abcdef0', '172.31.12.34');
    step('EC2 bridge task RUNNING; the 2016-era event has no bindings → register asks ECS, host IP from EC2');
    say(await register(bridge, lambdaContext('register')));
    await show();

    const gated = event('fargate-stopped-essential-container-exited-fivexl');
    const running = { ...gated, id: 'gated-running', detail: runningFromStopped(gated.detail) };
    aws.putTaskFromDetail(running.detail);
    step('Task whose app container has a health check RUNNING, not yet HEALTHY → register (held back: pending)');
    say(await register(running, lambdaContext('register')));
    await show();

    const lost = structuredClone(fargate.detail);
    lost.taskArn = lost.taskArn.replace(/[0-9a-f]{8}$/, '0000beef');
    lost.attachments[0].details[3].value = '10.0.0.140';
    aws.putTaskFromDetail(lost);
    aws.updateTask(running.detail.taskArn as string, { healthStatus: 'HEALTHY' });
    step('Renew tick: ECS now says the gated task is HEALTHY, and a task whose event was lost is running');
    say(await renew({ source: 'aws.events', 'detail-type': 'Scheduled Event' }, lambdaContext('renew')));
    await show();

    step('ECS stops the first Fargate task (desiredStatus STOPPED) → deregister');
    say(
      await deregister(
        { ...fargate, id: 'stopping', detail: { ...fargate.detail, version: 5, desiredStatus: 'STOPPED' } },
        lambdaContext('deregister'),
      ),
    );
    aws.updateTask(fargate.detail.taskArn, { desiredStatus: 'STOPPED', lastStatus: 'STOPPED' });
    await show();

    step('A RUNNING event of the stopped task arrives late → register (stopped: nothing changes)');
    say(
      await register(
        { ...fargate, id: 'late-running', detail: { ...fargate.detail, version: 6 } },
        lambdaContext('register'),
      ),
    );

    step('Renew tick: every remaining lease renewed');
    say(await renew({}, lambdaContext('renew')));
    console.log('\nWhat gRPC clients resolve now:');
    await show();
  } finally {
    grpcClient?.close();
    await Promise.all(servers.map((s) => s.stop()));
    client.close();
    await aws.stop();
    await etcd.stop();
  }
  process.exit(0);
}

type DemoHandler = (event: never, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;

/**
 * A rolling deploy of a health-checked service (minimumHealthyPercent 100): ECS stops each old
 * task right after a new one turns HEALTHY, an event nobody sends. Prints every state the
 * service's directory goes through.
 */
async function rollingDeploy(
  aws: LocalAws,
  client: Etcd3,
  handlers: Record<'register' | 'deregister' | 'follow', DemoHandler>,
  followQueue: string,
): Promise<void> {
  const definition = 'arn:aws:ecs:us-west-2:111122223333:task-definition/checkout:1';
  // A 2 s interval keeps the demo short (ECS's default is 30 s: the follow-up then checks every 3 s).
  putCheckedDefinition(aws, { arn: definition, family: 'checkout', timing: { interval: 2, timeout: 1, retries: 2 } });
  // Task k at 10.0.9.k (fargateEvent's address of task 9 × 256 + k), apart from the other demo tasks.
  const task = (k: number, healthy: boolean) =>
    checkedTask(aws, 9 * 256 + k, {
      salt: 'c0ffee',
      service: 'checkout',
      definitionArn: definition,
      health: healthy ? 'HEALTHY' : 'UNKNOWN',
    });
  const directory = 'services/checkout/';
  const addrs = async () =>
    Object.values(await client.getAll().prefix(directory).strings())
      .map((v) => parseEndpoint(`${directory}x`, v)?.addr ?? '?')
      .sort();

  step(
    'Rolling deploy of "checkout", a gRPC service with a health check (minimumHealthyPercent 100): two old tasks serve',
  );
  const old = [task(1, true), task(2, true)];
  for (const t of old) await handlers.register(t.running as never, lambdaContext('register'));
  console.log(`  etcd:///services/checkout/ → ${(await addrs()).join(', ')}`);

  // Every state of the service's endpoint directory from now on, a whole revision at a time.
  const recording = await recordService(client, directory);
  const consumer = consumeQueue(aws.queue(followQueue), handlers.follow as never);
  try {
    step(
      'ECS starts three new tasks: RUNNING, not HEALTHY yet → register records them pending and queues their first follow-up check',
    );
    const fresh = [task(11, false), task(12, false), task(13, false)];
    for (const t of fresh) {
      const outcome = (await handlers.register(t.running as never, lambdaContext('register'))) as RegisterOutcome;
      console.log(`  ${t.ip} → ${outcome.action}`);
    }
    for (const [i, t] of fresh.slice(0, 2).entries()) {
      await new Promise((r) => setTimeout(r, 600));
      t.report('HEALTHY');
      step(`ECS: ${t.ip} is HEALTHY (no event) and ECS stops old task ${old[i]!.ip} at once → deregister`);
      const result = (await handlers.deregister(old[i]!.stop() as never, lambdaContext('deregister'))) as Json;
      console.log(
        `  drain check published ${result.drained?.published.length ?? 0} HEALTHY pending task(s) first, then: ${result.action} ${old[i]!.ip}`,
      );
      console.log(`  etcd:///services/checkout/ → ${(await addrs()).join(', ')}`);
    }
    const last = fresh[2]!;
    last.report('HEALTHY');
    const healthyAt = performance.now();
    step(`ECS: ${last.ip} is HEALTHY; no stop comes with it → the next follow-up check publishes it`);
    while (!(await addrs()).includes(`${last.ip}:50051`)) await new Promise((r) => setTimeout(r, 20));
    console.log(
      `  routable ${((performance.now() - healthyAt) / 1000).toFixed(1)} s after ECS reported HEALTHY (a check every 2 s here, every 3 s with ECS's default 30 s interval)`,
    );
    console.log(`  etcd:///services/checkout/ → ${(await addrs()).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
    const fewest = Math.min(...recording.counts);
    console.log(
      `  endpoints the service had, after every change: ${recording.counts.join(' → ')} (${fewest > 0 ? 'never 0' : 'it reached 0'})`,
    );
  } finally {
    await consumer.stop();
    await recording.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
