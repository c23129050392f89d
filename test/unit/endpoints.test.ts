import { describe, expect, it } from 'vitest';
import { parseTaskStateChange } from '../../lib/ecs/event';
import type { TaskSnapshot } from '../../lib/ecs/task';
import { toTaskDefinitionInfo, type TaskDefinitionInfo } from '../../lib/ecs/task-definition';
import { needsHostIp, planEndpoints } from '../../lib/endpoints';
import { InvalidEventError, MissingNetworkInfo } from '../../lib/errors';
import { sampleTaskDefinitions } from '../kit/local-aws';
import { loadEvent, withDetail } from '../kit/events';

const definitions = sampleTaskDefinitions();
const definitionFor = (task: TaskSnapshot, changes: Record<string, unknown> = {}): TaskDefinitionInfo =>
  toTaskDefinitionInfo({ ...definitions.find((d) => d.taskDefinitionArn === task.taskDefinitionArn), ...changes });
const fargateEvent = loadEvent('fargate-awsvpc-running-ecs-devguide');
const fargate = parseTaskStateChange(fargateEvent).task;
const bridgeDetail = loadEvent('REFERENCE-describe-tasks-ec2-bridge-networkBindings-awscli').tasks[0];
const bridge = parseTaskStateChange({
  id: 'x',
  source: 'aws.ecs',
  'detail-type': 'ECS Task State Change',
  detail: bridgeDetail,
}).task;

const container = (name: string, extra: Record<string, unknown> = {}) => ({ name, essential: true, ...extra });

describe('planEndpoints: awsvpc', () => {
  it('publishes the ENI address with the task definition port under the family (Fargate sample)', () => {
    expect(planEndpoints(fargate, definitionFor(fargate))).toEqual({
      endpoints: [
        { service: 'sample-fargate', container: 'FargateApp', containerPort: 50051, ip: '10.0.0.139', port: 50051 },
      ],
      gatedContainers: [],
      skipped: [],
      chosen: [
        {
          service: 'sample-fargate',
          container: 'FargateApp',
          containerPort: 50051,
          rule: 'only-port',
          reason: 'the only candidate TCP port of the service',
        },
      ],
      ambiguities: [],
    });
  });

  it('falls back to the container network interface when no ENI attachment is reported', () => {
    const task = parseTaskStateChange(withDetail(fargateEvent, { attachments: [] })).task;
    expect(planEndpoints(task, definitionFor(task)).endpoints[0]!.ip).toBe('10.0.0.139');
  });

  it('says what is missing when there is no address yet', () => {
    const task = parseTaskStateChange(
      withDetail(fargateEvent, { attachments: [], containers: [{ name: 'FargateApp', lastStatus: 'RUNNING' }] }),
    ).task;
    expect(() => planEndpoints(task, definitionFor(task))).toThrow(MissingNetworkInfo);
  });

  it('names the service from the ECS service group, then from the label', () => {
    const task = parseTaskStateChange(withDetail(fargateEvent, { group: 'service:checkout' })).task;
    expect(planEndpoints(task, definitionFor(task)).endpoints[0]!.service).toBe('checkout');
    const labelled = definitionFor(task, {
      containerDefinitions: [
        container('FargateApp', {
          portMappings: [{ containerPort: 50051 }],
          dockerLabels: { 'registrar.service': 'payments' },
        }),
      ],
    });
    expect(planEndpoints(task, labelled).endpoints[0]!.service).toBe('payments');
  });

  it('falls back to the family for a custom group', () => {
    const task = parseTaskStateChange(withDetail(fargateEvent, { group: 'my-batch' })).task;
    expect(planEndpoints(task, definitionFor(task)).endpoints[0]!.service).toBe('sample-fargate');
  });

  it('publishes one of several unmarked ports under <service>, never <service>-<port>, and reports the guess', () => {
    const def = definitionFor(fargate, {
      containerDefinitions: [
        container('FargateApp', {
          portMappings: [{ containerPort: 50051 }, { containerPort: 9090 }, { containerPort: 53, protocol: 'udp' }],
        }),
      ],
    });
    const plan = planEndpoints(fargate, def);
    expect(plan.endpoints.map((e) => [e.service, e.port])).toEqual([['sample-fargate', 50051]]);
    expect(plan.ambiguities).toEqual([
      {
        service: 'sample-fargate',
        chosen: 'FargateApp:50051',
        candidates: ['FargateApp:50051', 'FargateApp:9090'],
        fix: expect.stringContaining('appProtocol: "grpc"'),
      },
    ]);
    expect(plan.skipped).toEqual([
      {
        container: 'FargateApp',
        reason: expect.stringMatching(/^port 9090 is not published: FargateApp:50051 was chosen/),
      },
    ]);
  });

  it('limits ports with registrar.ports and skips containers with registrar.skip=true', () => {
    const def = definitionFor(fargate, {
      containerDefinitions: [
        container('FargateApp', {
          portMappings: [{ containerPort: 50051 }, { containerPort: 9090 }],
          dockerLabels: { 'registrar.ports': '50051' },
        }),
        container('envoy', { portMappings: [{ containerPort: 9901 }], dockerLabels: { 'registrar.skip': 'true' } }),
      ],
    });
    const plan = planEndpoints(fargate, def);
    expect(plan.endpoints.map((e) => [e.service, e.port])).toEqual([['sample-fargate', 50051]]);
    expect(plan.skipped).toEqual([{ container: 'envoy', reason: 'label registrar.skip=true' }]);
  });

  it('gates on the containers that define a health check', () => {
    const def = definitionFor(fargate, {
      containerDefinitions: [
        container('FargateApp', {
          portMappings: [{ containerPort: 50051 }],
          healthCheck: { command: ['CMD', 'true'] },
        }),
      ],
    });
    expect(planEndpoints(fargate, def).gatedContainers).toEqual(['FargateApp']);
  });

  it('leaves out a container that is not running', () => {
    const task = parseTaskStateChange(
      withDetail(fargateEvent, { containers: [{ name: 'FargateApp', lastStatus: 'STOPPED' }] }),
    ).task;
    const plan = planEndpoints(task, definitionFor(task));
    expect(plan.endpoints).toEqual([]);
    expect(plan.skipped).toEqual([{ container: 'FargateApp', reason: 'container is STOPPED' }]);
  });
});

describe('planEndpoints: bridge and host', () => {
  it('needs the container instance IP', () => {
    expect(needsHostIp(definitionFor(bridge))).toBe(true);
    expect(needsHostIp(definitionFor(fargate))).toBe(false);
    expect(() => planEndpoints(bridge, definitionFor(bridge))).toThrow(MissingNetworkInfo);
  });

  it('publishes the host port on the instance IP, named after the ECS service (awscli sample)', () => {
    expect(planEndpoints(bridge, definitionFor(bridge), '10.1.2.3').endpoints).toEqual([
      { service: 'testupdate', container: 'simple-app', containerPort: 80, ip: '10.1.2.3', port: 80 },
    ]);
  });

  it('drops the duplicate IPv6 binding and UDP bindings of dynamic host ports', () => {
    const task = {
      ...bridge,
      containers: [
        {
          ...bridge.containers[0]!,
          networkBindings: [
            { bindIP: '0.0.0.0', containerPort: 80, hostPort: 32768, protocol: 'tcp' as const },
            { bindIP: '::', containerPort: 80, hostPort: 32768, protocol: 'tcp' as const },
            { bindIP: '0.0.0.0', containerPort: 53, hostPort: 32769, protocol: 'udp' as const },
          ],
        },
      ],
    };
    expect(planEndpoints(task, definitionFor(bridge), '10.1.2.3').endpoints.map((e) => e.port)).toEqual([32768]);
  });

  it('uses the IPv6 bindings of dynamic host ports when the instance binds on :: only (IPv6-only instance)', () => {
    const task = {
      ...bridge,
      containers: [
        {
          ...bridge.containers[0]!,
          networkBindings: [
            { bindIP: '::', containerPort: 80, hostPort: 32768, protocol: 'tcp' as const },
            { bindIP: '::', containerPort: 53, hostPort: 32769, protocol: 'udp' as const },
          ],
        },
      ],
    };
    const dynamic = definitionFor(bridge, {
      containerDefinitions: [container('simple-app', { portMappings: [{ containerPort: 80, hostPort: 0 }] })],
    });
    expect(planEndpoints(task, dynamic, { ipv6: '2600:1f18:abcd::10' }).endpoints.map((e) => [e.ip, e.port])).toEqual([
      ['2600:1f18:abcd::10', 32768],
    ]);
  });

  it('reports missing bindings for dynamic ports, but uses static host ports without bindings', () => {
    const noBindings = { ...bridge, containers: [{ ...bridge.containers[0]!, networkBindings: [] }] };
    const dynamic = definitionFor(bridge, {
      containerDefinitions: [container('simple-app', { portMappings: [{ containerPort: 80, hostPort: 0 }] })],
    });
    expect(() => planEndpoints(noBindings, dynamic, '10.1.2.3')).toThrow(MissingNetworkInfo);
    expect(planEndpoints(noBindings, definitionFor(bridge), '10.1.2.3').endpoints.map((e) => e.port)).toEqual([80]);
  });

  it('uses the container port as host port in host mode', () => {
    const noBindings = { ...bridge, containers: [{ ...bridge.containers[0]!, networkBindings: [] }] };
    const host = definitionFor(bridge, {
      networkMode: 'host',
      containerDefinitions: [container('simple-app', { portMappings: [{ containerPort: 7000 }] })],
    });
    expect(planEndpoints(noBindings, host, '10.1.2.3').endpoints.map((e) => [e.ip, e.port])).toEqual([
      ['10.1.2.3', 7000],
    ]);
  });
});

describe('planEndpoints: port ranges', () => {
  const rangeEvent = loadEvent('ec2-bridge-running-port-range');
  const ranged = parseTaskStateChange(rangeEvent).task;
  const bound = (container: string, bindings: Record<string, unknown>[]) =>
    parseTaskStateChange(
      withDetail(rangeEvent, {
        containers: rangeEvent.detail.containers.map((c: { name: string }) =>
          c.name === container ? { ...c, networkBindings: bindings } : c,
        ),
      }),
    ).task;

  it('publishes every single port and reports each TCP range as skipped (bridge sample with a range sidecar)', () => {
    expect(planEndpoints(ranged, definitionFor(ranged), '10.1.2.3')).toMatchObject({
      endpoints: [{ service: 'media-bridge', container: 'media', containerPort: 50051, ip: '10.1.2.3', port: 32768 }],
      gatedContainers: [],
      skipped: [
        {
          container: 'media',
          reason: 'port range 40000-40009 (host 49153-49162) is not published (a range names no single port to dial)',
        },
        {
          container: 'relay',
          reason: 'port range 41100-41104 (host 49300-49304) is not published (a range names no single port to dial)',
        },
      ],
    });
  });

  it('reports the range of a container that registrar.ports leaves out, and publishes nothing of it', () => {
    const def = definitionFor(ranged, {
      containerDefinitions: [
        container('media', {
          portMappings: [{ containerPort: 50051, hostPort: 0 }, { containerPortRange: '40000-40009' }],
          dockerLabels: { 'registrar.ports': '50051' },
        }),
        container('relay', {
          portMappings: [{ containerPortRange: '41100-41104' }],
          dockerLabels: { 'registrar.ports': '41100' },
        }),
      ],
    });
    const plan = planEndpoints(ranged, def, '10.1.2.3');
    expect(plan.endpoints.map((e) => [e.container, e.port])).toEqual([['media', 32768]]);
    expect(plan.skipped.map((s) => s.container)).toEqual(['media', 'relay']);
  });

  it("reports the task definition's ranges for awsvpc tasks, where no binding is reported", () => {
    const def = definitionFor(fargate, {
      containerDefinitions: [
        container('FargateApp', {
          portMappings: [
            { containerPort: 50051 },
            { containerPortRange: '7000-7099' },
            { containerPortRange: '8000-8009', protocol: 'udp' },
          ],
        }),
      ],
    });
    expect(planEndpoints(fargate, def)).toMatchObject({
      endpoints: [{ service: 'sample-fargate', port: 50051 }],
      skipped: [{ container: 'FargateApp', reason: expect.stringMatching(/^port range 7000-7099 is not published/) }],
    });
  });

  it('reports a container that maps only a range without calling it portless', () => {
    const def = definitionFor(fargate, {
      containerDefinitions: [container('FargateApp', { portMappings: [{ containerPortRange: '7000-7099' }] })],
    });
    expect(planEndpoints(fargate, def)).toEqual({
      endpoints: [],
      gatedContainers: [],
      skipped: [
        {
          container: 'FargateApp',
          reason: 'port range 7000-7099 is not published (a range names no single port to dial)',
        },
      ],
      chosen: [],
      ambiguities: [],
    });
  });

  it('rejects a range that runs backwards or leaves 1-65535, in a binding or a task definition', () => {
    const backwards = bound('relay', [
      { bindIP: '0.0.0.0', containerPortRange: '41104-41100', hostPortRange: '49200-49204', protocol: 'tcp' },
    ]);
    expect(() => planEndpoints(backwards, definitionFor(ranged), '10.1.2.3')).toThrow(InvalidEventError);
    expect(() => planEndpoints(backwards, definitionFor(ranged), '10.1.2.3')).toThrow(
      /invalid event at detail\.containers\[relay\]\.networkBindings\.containerPortRange: "41104-41100" is not a port range/,
    );
    const hostZero = bound('relay', [
      { bindIP: '0.0.0.0', containerPortRange: '41100-41104', hostPortRange: '0-4', protocol: 'tcp' },
    ]);
    expect(() => planEndpoints(hostZero, definitionFor(ranged), '10.1.2.3')).toThrow(
      /networkBindings\.hostPortRange: "0-4" is not a port range/,
    );
    const def = definitionFor(fargate, {
      containerDefinitions: [
        container('FargateApp', { portMappings: [{ containerPort: 50051 }, { containerPortRange: '65530-70000' }] }),
      ],
    });
    expect(() => planEndpoints(fargate, def)).toThrow(
      /portMappings\.containerPortRange: "65530-70000" is not a port range/,
    );
  });
});

describe('planEndpoints: hostile input', () => {
  const labelled = (labels: Record<string, string>) =>
    definitionFor(fargate, {
      containerDefinitions: [
        container('FargateApp', { portMappings: [{ containerPort: 50051 }], dockerLabels: labels }),
      ],
    });
  it.each([
    ['a slash', 'a/b'],
    ['a parent segment', '..'],
    ['dots inside', 'a..b'],
    ['a NUL', 'api\u0000'],
    ['a control character', 'api\n'],
    ['a unicode look-alike', 'аpi'],
    ['an empty name', ''],
    ['a very long name', 'a'.repeat(300)],
  ])('rejects a service label with %s', (_what, name) => {
    expect(() => planEndpoints(fargate, labelled({ 'registrar.service': name }))).toThrow(InvalidEventError);
  });

  it.each(['0', '70000', 'abc', '', '80,,x'])('rejects registrar.ports=%j', (ports) => {
    expect(() => planEndpoints(fargate, labelled({ 'registrar.ports': ports }))).toThrow(/registrar\.ports/);
  });

  it('rejects a host port of 0 in a binding', () => {
    const task = {
      ...bridge,
      containers: [
        { ...bridge.containers[0]!, networkBindings: [{ bindIP: '0.0.0.0', containerPort: 80, hostPort: 0 }] },
      ],
    };
    expect(() => planEndpoints(task, definitionFor(bridge), '10.1.2.3')).toThrow(/port 0 is not a dialable port/);
  });

  it.each([
    [
      'awsvpc containerPort 0',
      'awsvpc',
      { containerPort: 0 },
      /portMappings\.containerPort.*port 0 is not a dialable port/,
    ],
    ['awsvpc containerPort 70000', 'awsvpc', { containerPort: 70000 }, /portMappings\.containerPort.*port 70000/],
    ['host-mode containerPort -1', 'host', { containerPort: -1 }, /portMappings\.containerPort.*port -1/],
    [
      'bridge static hostPort 70000',
      'bridge',
      { containerPort: 80, hostPort: 70000 },
      /portMappings\.hostPort.*port 70000/,
    ],
  ])('rejects a task definition mapping with %s', (_what, networkMode, mapping, message) => {
    const task =
      networkMode === 'awsvpc'
        ? fargate
        : { ...bridge, containers: [{ ...bridge.containers[0]!, networkBindings: [] }] };
    const def = definitionFor(task, {
      networkMode,
      containerDefinitions: [container(task.containers[0]!.name, { portMappings: [mapping] })],
    });
    expect(() => planEndpoints(task, def, '10.1.2.3')).toThrow(InvalidEventError);
    expect(() => planEndpoints(task, def, '10.1.2.3')).toThrow(message);
  });

  it.each(['not-an-ip', '127.0.0.1', '169.254.169.254', '0.0.0.0', '255.255.255.255'])(
    'rejects a container instance IP of %j',
    (ip) => {
      expect(() => planEndpoints(bridge, definitionFor(bridge), ip)).toThrow(
        /invalid event at containerInstance\.privateIpAddress/,
      );
    },
  );

  it('refuses a service name reserved by the state prefix', () => {
    expect(() => planEndpoints(fargate, definitionFor(fargate), undefined, ['sample-fargate'])).toThrow(/reserved/);
  });
});

describe('planEndpoints: loopback', () => {
  it('refuses a loopback host address unless local runs allow it', () => {
    const definition = definitionFor(bridge);
    expect(() => planEndpoints(bridge, definition, '127.0.0.1')).toThrow(/not an address a task serves clients on/);
    expect(
      planEndpoints(bridge, definition, '127.0.0.1', [], { allowLoopback: true }).endpoints.map((e) => e.ip),
    ).toEqual(['127.0.0.1']);
    expect(() => planEndpoints(bridge, definition, '169.254.169.254', [], { allowLoopback: true })).toThrow(
      /link-local/,
    );
  });
});
