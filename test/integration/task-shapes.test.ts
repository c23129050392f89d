/**
 * The task shapes production fleets run, through the real registrar, real etcd and the local ECS
 * endpoint, seen the way a gRPC client sees them (the discovery client's `watchService`): sidecars
 * added by a rolling deploy, `http` beside `grpc` ports, the app container stopped or restarted
 * beside a one-port sidecar, Service Connect's Envoy, IPv6-only and dual-stack tasks, bad IPv6
 * addresses, and ECS Managed Instances.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ExitCode, runCli } from '../../lib/cli/main';
import { deregisterTask } from '../../lib/deregister';
import { watchService, type ServiceWatcher } from '../../lib/discovery/watcher';
import { parseTaskStateChange } from '../../lib/ecs/event';
import { fargateEvent, transition } from '../kit/events';
import { createHarness, type Harness } from '../support/harness';
import { renewTasks } from '../../lib/renew/run';

type Json = Record<string, any>;
const ACCOUNT = 'arn:aws:ecs:us-west-2:111122223333';
const definitionArn = (family: string, revision: number) => `${ACCOUNT}:task-definition/${family}:${revision}`;
const app = (ports: Json[], name = 'app') => ({
  name,
  image: '111122223333.dkr.ecr.us-west-2.amazonaws.com/api:2',
  essential: true,
  portMappings: ports,
});
// A sidecar whose image the registrar does not know: only the app's appProtocol mark keeps it out.
const collector = {
  name: 'collector',
  image: 'me/collector:3',
  essential: true,
  portMappings: [{ containerPort: 4317 }],
};
const datadog = {
  name: 'datadog-agent',
  image: 'public.ecr.aws/datadog/agent:7',
  essential: true,
  portMappings: [{ containerPort: 8126 }],
};

let h: Harness;
let salt = 0;
beforeAll(async () => {
  h = await createHarness({ POWERTOOLS_LOG_LEVEL: 'SILENT' });
});
afterAll(async () => h?.close());

function define(family: string, revision: number, containers: Json[], networkMode = 'awsvpc'): string {
  const taskDefinitionArn = definitionArn(family, revision);
  h.aws.putTaskDefinition({ taskDefinitionArn, family, revision, networkMode, containerDefinitions: containers });
  return taskDefinitionArn;
}

/** A RUNNING task of `service` on `definition`, each container RUNNING unless `statuses` says otherwise. */
function taskEvent(n: number, service: string, definition: string, containers: string[], detail: Json = {}): Json {
  const base = fargateEvent(n, { salt: `s${salt++}` });
  const ip = (base.detail.attachments as Json[])[0]!;
  return {
    ...base,
    detail: {
      ...base.detail,
      group: `service:${service}`,
      taskDefinitionArn: definition,
      attachments: [ip],
      containers: containers.map((name) => ({ name, lastStatus: 'RUNNING', taskArn: base.detail.taskArn })),
      ...detail,
    },
  };
}

async function start(event: Json) {
  h.aws.putTaskFromDetail(event.detail as Json);
  return h.registrar.registerEvent(event);
}

async function stop(event: Json) {
  h.aws.tasks.delete(event.detail.taskArn as string);
  const { task } = parseTaskStateChange(event);
  return deregisterTask(h.registry, { ...task, version: task.version + 2 });
}

const addressOf = (event: Json) =>
  ((event.detail.attachments as Json[])[0]!.details as { name: string; value: string }[]).find(
    (d) => d.name === 'privateIPv4Address',
  )!.value;

/** The client's view of one service: every address list it was handed, in order. */
async function watch(service: string): Promise<{ watcher: ServiceWatcher; seen: string[][] }> {
  const seen: string[][] = [];
  const watcher = watchService(h.etcd, `${h.config.registryPrefix}/${service}/`, {
    onChange: (endpoints) => seen.push(endpoints.map((e) => e.addr).sort()),
  });
  await watcher.ready();
  return { watcher, seen };
}

async function sees(watcher: ServiceWatcher, addrs: string[]) {
  await vi.waitFor(() => expect([...watcher.addresses()].sort()).toEqual([...addrs].sort()), { timeout: 5000 });
}

/**
 * Two tasks on `v1`, then ECS's rolling deploy to `v2` (minimum healthy 100 %): start a new task,
 * stop an old one, twice, then a renew tick. Asserts what the client sees after every step and
 * returns every list it was handed.
 */
async function rollingDeploy(service: string, v1: string, v2: string, containers: readonly string[], first: number) {
  const { watcher, seen } = await watch(service);
  const at = (tasks: Json[]) => tasks.map((t) => `${addressOf(t)}:50051`);
  const old = [first, first + 1].map((n) => taskEvent(n, service, v1, ['app']));
  for (const e of old)
    expect(await start(e)).toMatchObject({ action: 'registered', keys: [expect.stringMatching(/:50051$/)] });
  await sees(watcher, at(old));
  const fresh = [first + 2, first + 3].map((n) => taskEvent(n, service, v2, [...containers]));
  for (const [i, e] of fresh.entries()) {
    expect(await start(e)).toMatchObject({ action: 'registered', keys: [expect.stringMatching(/:50051$/)] });
    await sees(watcher, at([...old.slice(i), ...fresh.slice(0, i + 1)]));
    expect(await stop(old[i]!)).toMatchObject({ action: 'removed' });
    await sees(watcher, at([...old.slice(i + 1), ...fresh.slice(0, i + 1)]));
  }
  expect(await renewTasks(h.registrar)).toMatchObject({ failed: 0 });
  await sees(watcher, at(fresh));
  await watcher.close();
  // Never fewer than the two running tasks once both old ones were published, never a sidecar port.
  const settled = seen.slice(seen.findIndex((s) => s.length === 2));
  expect(settled.every((s) => s.length >= 2)).toBe(true);
  expect(seen.flat().every((a) => a.endsWith(':50051'))).toBe(true);
  return { fresh };
}

describe('a rolling deploy that adds a sidecar', () => {
  it.each([
    ['a marked app port and an unknown sidecar', 'mk', [{ containerPort: 50051, appProtocol: 'grpc' }], collector],
    ['an unmarked app port and a well-known agent', 'um', [{ containerPort: 50051 }], datadog],
  ])('keeps every running task in services/<svc>/ at every instant (%s)', async (_what, service, ports, sidecar) => {
    const v1 = define(service, 1, [app(ports)]);
    const v2 = define(service, 2, [app(ports), sidecar]);
    await rollingDeploy(service, v1, v2, ['app', sidecar.name], 1);
  });

  it('keeps them there for an unmarked app port the ECS service declares, from one cached DescribeServices, with no guess', async () => {
    h.aws.putService('FargateCluster', {
      serviceName: 'lb',
      loadBalancers: [{ targetGroupArn: `${ACCOUNT}:targetgroup/lb/1`, containerName: 'app', containerPort: 50051 }],
    });
    const ports = [{ containerPort: 9090 }, { containerPort: 50051 }];
    const v1 = define('lb', 1, [app(ports)]);
    const v2 = define('lb', 2, [collector, app(ports)]);
    const described = h.aws.count('DescribeServices');
    const warnings = h.log.lines.filter((l) => l.level === 'warn').length;
    const { fresh } = await rollingDeploy('lb', v1, v2, ['collector', 'app'], 21);
    // Four registrations and a renew tick read the service once (cached), and guessed nothing.
    expect(h.aws.count('DescribeServices') - described).toBe(1);
    expect(h.log.lines.filter((l) => l.level === 'warn').length).toBe(warnings);
    const record = Object.entries(await h.dump(`${h.config.statePrefix}/`)).find(
      ([, v]) => v.includes(fresh[0]!.detail.taskArn) && v.includes('"ports"'),
    );
    expect(JSON.parse(record![1]).ports).toEqual([
      expect.objectContaining({ container: 'app', containerPort: 50051, rule: 'ecs-service' }),
    ]);
  });
});

describe('ports marked http and grpc', () => {
  it('publishes only the grpc port, under the bare service name', async () => {
    const def = define('hg', 1, [
      app([
        { containerPort: 8080, appProtocol: 'http', name: 'web' },
        { containerPort: 50051, appProtocol: 'grpc', name: 'rpc' },
      ]),
    ]);
    const e = taskEvent(5, 'hg', def, ['app']);
    const outcome = await start(e);
    expect(outcome).toMatchObject({ action: 'registered', keys: [expect.stringMatching(/\/hg\/[0-9a-z]+:50051$/)] });
    expect(Object.keys(await h.endpoints()).filter((k) => k.includes('/hg'))).toHaveLength(1);
  });
});

describe('the app container stopped or restarted beside a one-port sidecar', () => {
  it('withdraws the app, never publishes the sidecar under its name, and publishes the app again', async () => {
    const def = define('rs', 1, [app([{ containerPort: 50051 }]), collector]);
    const { watcher, seen } = await watch('rs');
    const running = taskEvent(6, 'rs', def, ['app', 'collector']);
    expect(await start(running)).toMatchObject({ action: 'registered' });
    // The ambiguity rule chose (unknown sidecar, nothing marked): said loudly, with the fix.
    expect(h.log.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: expect.stringMatching(/ambiguous gRPC port: task .* published app:50051 .*Fix: mark/),
      }),
    );
    const ip = addressOf(running);
    await sees(watcher, [`${ip}:50051`]);
    // The operator CLI says which port was chosen and why: show explains it, check warns (exit 0).
    const env = {
      ETCD_ENDPOINTS: h.config.etcdEndpoints.join(','),
      REGISTRY_PREFIX: h.config.registryPrefix,
      STATE_PREFIX: h.config.statePrefix,
    };
    let out = '';
    const io = { env, stdout: (t: string) => void (out += t), stderr: () => undefined };
    const id = (running.detail.taskArn as string).split('/').pop()!;
    expect(await runCli(['show', id, '--json'], io)).toBe(ExitCode.Ok);
    expect(JSON.parse(out).why).toContainEqual(
      expect.stringMatching(/^port app:50051 → rs \(ambiguous\): guessed among 2/),
    );
    out = '';
    expect(await runCli(['check'], io)).toBe(ExitCode.Ok);
    expect(out).toMatch(
      new RegExp(`^warning: ${running.detail.taskArn}: ambiguous port: app:50051 chosen for rs`, 'm'),
    );
    const containers = (status: string) => [
      { name: 'app', lastStatus: status, taskArn: running.detail.taskArn },
      { name: 'collector', lastStatus: 'RUNNING', taskArn: running.detail.taskArn },
    ];
    const version = running.detail.version as number;
    const restarting = transition(running, version + 1, 'RUNNING', 'RUNNING', { containers: containers('STOPPED') });
    expect(await start(restarting)).toMatchObject({ action: 'empty', keys: [] });
    await sees(watcher, []);
    const back = transition(running, version + 2, 'RUNNING', 'RUNNING', { containers: containers('RUNNING') });
    expect(await start(back)).toMatchObject({ action: 'registered' });
    await sees(watcher, [`${ip}:50051`]);
    expect(seen.flat()).not.toContain(`${ip}:4317`);
    await watcher.close();
  });
});

describe("Service Connect's Envoy", () => {
  it('is never published, and the app port is', async () => {
    const def = define('sc', 1, [
      app([{ containerPort: 50051, name: 'rpc' }]),
      {
        name: 'ecs-service-connect-aB3d',
        image: 'public.ecr.aws/ecs/service-connect-agent:v1',
        portMappings: [{ containerPort: 15000 }],
      },
    ]);
    const e = taskEvent(7, 'sc', def, ['app', 'ecs-service-connect-aB3d']);
    expect(await start(e)).toMatchObject({
      action: 'registered',
      keys: [expect.stringMatching(/\/sc\/[0-9a-z]+:50051$/)],
      skipped: [{ container: 'ecs-service-connect-aB3d', reason: "Service Connect's Envoy proxy: never published" }],
    });
  });
});

describe('ECS Managed Instances', () => {
  it('publishes a MANAGED_INSTANCES awsvpc task at its ENI address and keeps it across renew', async () => {
    const def = define('mi', 1, [app([{ containerPort: 50051, appProtocol: 'grpc' }])]);
    const e = taskEvent(8, 'mi', def, ['app'], {
      launchType: 'MANAGED_INSTANCES',
      containerInstanceArn: `${ACCOUNT}:container-instance/FargateCluster/0123456789abcdef0123456789abcdef`,
    });
    const { watcher } = await watch('mi');
    expect(await start(e)).toMatchObject({ action: 'registered' });
    await sees(watcher, [`${addressOf(e)}:50051`]);
    expect(await renewTasks(h.registrar)).toMatchObject({ failed: 0 });
    const value = JSON.parse(Object.entries(await h.endpoints()).find(([k]) => k.includes('/mi/'))![1]);
    expect(JSON.parse(value.Metadata)).toMatchObject({ launchType: 'MANAGED_INSTANCES' });
    await watcher.close();
  });
});

const v6 = (value: string) => ({
  id: 'eni-v6',
  type: 'eni',
  status: 'ATTACHED',
  details: [
    { name: 'subnetId', value: 'subnet-0a1b2c3d' },
    { name: 'networkInterfaceId', value: 'eni-0a1b2c3d' },
    { name: 'ipv6Address', value },
  ],
});

describe('IPv6 tasks (ENDPOINT_ADDRESS_FAMILY=ipv4, the default)', () => {
  it('publishes an IPv6-only task at [address]:port and keeps it across renew (DescribeTasks)', async () => {
    const def = define('v6', 1, [app([{ containerPort: 50051, appProtocol: 'grpc' }])]);
    const e = taskEvent(9, 'v6', def, ['app'], { attachments: [v6('2600:1F14:0:0::9')] });
    const { watcher } = await watch('v6');
    expect(await start(e)).toMatchObject({ action: 'registered' });
    await sees(watcher, ['[2600:1f14::9]:50051']);
    expect(await renewTasks(h.registrar)).toMatchObject({ failed: 0 });
    await sees(watcher, ['[2600:1f14::9]:50051']);
    await watcher.close();
  });

  it('publishes a dual-stack task at its IPv4 address', async () => {
    const def = define('ds', 1, [app([{ containerPort: 50051, appProtocol: 'grpc' }])]);
    const e = taskEvent(10, 'ds', def, ['app']);
    const att = (e.detail.attachments as Json[])[0]!;
    (att.details as Json[]).push({ name: 'ipv6Address', value: '2600:1f14::a' });
    expect(await start(e)).toMatchObject({ action: 'registered' });
    const value = Object.entries(await h.endpoints()).find(([k]) => k.includes('/ds/'))![1];
    expect(JSON.parse(value).Addr).toBe(`${addressOf(e)}:50051`);
  });

  it.each([
    ['link-local', 'fe80::1', /link-local/],
    ['multicast', 'ff02::1', /multicast/],
    ['loopback', '::1', /loopback/],
    ['unspecified', '::', /unspecified/],
    ['IPv4-mapped', '::ffff:10.0.0.1', /IPv4-mapped/],
    ['not an address', '2600:1f14::zz', /not an IPv6 address/],
  ])('rejects a %s ENI address, writing nothing', async (_what, address, message) => {
    const def = define('bad6', 1, [app([{ containerPort: 50051 }])]);
    const e = taskEvent(11, 'bad6', def, ['app'], { attachments: [v6(address)] });
    const before = await h.revisions();
    await expect(h.registrar.registerEvent(e)).rejects.toThrow(/invalid event at detail\.attachments\.ipv6Address/);
    await expect(h.registrar.registerEvent(e)).rejects.toThrow(message);
    expect(await h.revisions()).toEqual(before);
  });
});

// Each harness points the SDK's endpoint variables at its own local ECS: one at a time, after the rest.
describe('a dual-stack task under ENDPOINT_ADDRESS_FAMILY=ipv6', () => {
  let h6: Harness;
  beforeAll(async () => {
    h6 = await createHarness({ POWERTOOLS_LOG_LEVEL: 'SILENT', ENDPOINT_ADDRESS_FAMILY: 'ipv6' });
  });
  afterAll(async () => h6?.close());

  it('ENDPOINT_ADDRESS_FAMILY=ipv6 publishes a dual-stack task at [IPv6]:port', async () => {
    const def = definitionArn('dsix', 1);
    h6.aws.putTaskDefinition({
      taskDefinitionArn: def,
      family: 'dsix',
      networkMode: 'awsvpc',
      containerDefinitions: [app([{ containerPort: 50051, appProtocol: 'grpc' }])],
    });
    const e = taskEvent(12, 'dsix', def, ['app']);
    ((e.detail.attachments as Json[])[0]!.details as Json[]).push({ name: 'ipv6Address', value: '2600:1f14::c' });
    h6.aws.putTaskFromDetail(e.detail as Json);
    expect(await h6.registrar.registerEvent(e)).toMatchObject({ action: 'registered' });
    const [value] = Object.values(await h6.endpoints());
    expect(JSON.parse(value!).Addr).toBe('[2600:1f14::c]:50051');
  });
});

describe('an IPv6-only task under ENDPOINT_ADDRESS_FAMILY=ipv4-only', () => {
  let h4only: Harness;
  beforeAll(async () => {
    h4only = await createHarness({ POWERTOOLS_LOG_LEVEL: 'SILENT', ENDPOINT_ADDRESS_FAMILY: 'ipv4-only' });
  });
  afterAll(async () => h4only?.close());

  it('ENDPOINT_ADDRESS_FAMILY=ipv4-only skips an IPv6-only task with the reason, and renew does not fail on it', async () => {
    const def = definitionArn('v6skip', 1);
    h4only.aws.putTaskDefinition({
      taskDefinitionArn: def,
      family: 'v6skip',
      networkMode: 'awsvpc',
      containerDefinitions: [app([{ containerPort: 50051 }])],
    });
    const e = taskEvent(13, 'v6skip', def, ['app'], { attachments: [v6('2600:1f14::d')] });
    h4only.aws.putTaskFromDetail(e.detail as Json);
    expect(await h4only.registrar.registerEvent(e)).toMatchObject({
      action: 'empty',
      keys: [],
      skipped: [
        { container: 'app', reason: expect.stringMatching(/^the task has no IPv4 address \(only IPv6 2600:1f14::d\)/) },
      ],
    });
    expect(await renewTasks(h4only.registrar)).toMatchObject({ failed: 0 });
    expect(await h4only.endpoints()).toEqual({});
  });
});
