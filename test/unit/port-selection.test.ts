import { describe, expect, it } from 'vitest';
import type { ServiceDeclaration } from '../../lib/ecs/service-declaration';
import { toTaskDefinitionInfo } from '../../lib/ecs/task-definition';
import { planEndpoints } from '../../lib/endpoints';
import { ChoiceRule, selectPorts } from '../../lib/port-selection';
import { taskSnapshot } from '../kit/events';

type Json = Record<string, unknown>;
const definition = (...containerDefinitions: Json[]) =>
  toTaskDefinitionInfo({
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/api:1',
    family: 'api',
    networkMode: 'awsvpc',
    containerDefinitions,
  });
const app = (ports: Json[], extra: Json = {}) => ({
  name: 'app',
  image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1.4',
  essential: true,
  portMappings: ports,
  ...extra,
});
const datadog = {
  name: 'datadog-agent',
  image: 'public.ecr.aws/datadog/agent:7',
  essential: true,
  portMappings: [{ containerPort: 8126 }],
};
const otel = {
  name: 'otel',
  image: 'public.ecr.aws/aws-observability/aws-otel-collector:latest',
  essential: true,
  portMappings: [{ containerPort: 4317 }, { containerPort: 4318 }],
};
const task = taskSnapshot('t1', { group: 'service:api' });
const chosen = (def: ReturnType<typeof definition>) =>
  selectPorts(task, def).chosen.map((c) => [c.service, `${c.container}:${c.containerPort}`, c.rule]);

describe('selectPorts: the service name never depends on how many ports the task has', () => {
  it('keeps the app port under <service> when a sidecar (known image or not essential) is added', () => {
    const before = chosen(definition(app([{ containerPort: 50051 }])));
    expect(before).toEqual([['api', 'app:50051', ChoiceRule.OnlyPort]]);
    expect(chosen(definition(app([{ containerPort: 50051 }]), datadog))).toEqual(before);
    expect(chosen(definition(datadog, app([{ containerPort: 50051 }]), otel))).toEqual(before);
    const helper = { name: 'helper', image: 'me/helper:1', essential: false, portMappings: [{ containerPort: 7000 }] };
    expect(chosen(definition(helper, app([{ containerPort: 50051 }])))).toEqual(before);
    const firelens = {
      name: 'log_router',
      image: 'me/fb:1',
      firelensConfiguration: { type: 'fluentbit' },
      portMappings: [{ containerPort: 2020 }],
    };
    expect(chosen(definition(firelens, app([{ containerPort: 50051 }])))).toEqual(before);
  });

  it('says why each sidecar port is left out, and how to publish it under its own name', () => {
    const { skipped } = selectPorts(task, definition(app([{ containerPort: 50051 }]), datadog));
    expect(skipped).toEqual([
      {
        container: 'datadog-agent',
        reason: expect.stringMatching(
          /^port 8126 is not published: the container is a well-known agent image .*registrar\.service=<name>/,
        ),
      },
    ]);
  });

  it('publishes only ports marked appProtocol grpc when any is marked; http never without a label', () => {
    const def = definition(
      app([
        { containerPort: 8080, appProtocol: 'http', name: 'web' },
        { containerPort: 50051, appProtocol: 'grpc', name: 'rpc' },
        { containerPort: 9090 },
      ]),
      { name: 'custom', image: 'me/custom:1', portMappings: [{ containerPort: 7000 }] },
    );
    expect(chosen(def)).toEqual([['api', 'app:50051', ChoiceRule.AppProtocol]]);
    expect(selectPorts(task, def).chosen[0]!.reason).toBe('marked appProtocol grpc (port mapping rpc)');
    expect(selectPorts(task, def).ambiguities).toEqual([]);
  });

  it('leaves an http-marked port out even when it is the only one', () => {
    const def = definition(app([{ containerPort: 8080, appProtocol: 'http' }]));
    expect(selectPorts(task, def)).toMatchObject({
      chosen: [],
      skipped: [{ container: 'app', reason: expect.stringMatching(/marked appProtocol http \(not gRPC\)/) }],
    });
  });

  it('lets registrar.ports override every rule, http and sidecars included', () => {
    const def = definition(
      app(
        [
          { containerPort: 8080, appProtocol: 'http' },
          { containerPort: 50051, appProtocol: 'grpc' },
        ],
        {
          dockerLabels: { 'registrar.ports': '8080' },
        },
      ),
    );
    expect(chosen(def)).toEqual([['api', 'app:8080', ChoiceRule.Label]]);
  });

  it('publishes a labelled sidecar under its own name only', () => {
    const def = definition(app([{ containerPort: 50051 }]), {
      ...datadog,
      dockerLabels: { 'registrar.service': 'apm' },
    });
    expect(chosen(def)).toEqual([
      ['api', 'app:50051', ChoiceRule.OnlyPort],
      ['apm', 'datadog-agent:8126', ChoiceRule.OnlyPort],
    ]);
  });

  it("never publishes Service Connect's Envoy", () => {
    const envoy = {
      name: 'ecs-service-connect-7f2a',
      image: 'public.ecr.aws/ecs/service-connect:1',
      portMappings: [{ containerPort: 15000 }],
    };
    const { chosen: picked, skipped } = selectPorts(task, definition(envoy, app([{ containerPort: 50051 }])));
    expect(picked.map((c) => c.container)).toEqual(['app']);
    expect(skipped).toEqual([
      { container: 'ecs-service-connect-7f2a', reason: "Service Connect's Envoy proxy: never published" },
    ]);
  });

  it('guesses among several unmarked ports by the documented rule, and says so with the fix', () => {
    // Named like the service first, then not depended on, then definition order.
    const custom = { name: 'custom', image: 'me/custom:1', portMappings: [{ containerPort: 7000 }] };
    const named = { ...app([{ containerPort: 50051 }]), name: 'api' };
    expect(chosen(definition(custom, named))).toEqual([['api', 'api:50051', ChoiceRule.Ambiguous]]);
    const waitedFor = definition(
      custom,
      app([{ containerPort: 50051 }], { dependsOn: [{ containerName: 'custom', condition: 'START' }] }),
    );
    expect(chosen(waitedFor)).toEqual([['api', 'app:50051', ChoiceRule.Ambiguous]]);
    const metrics = selectPorts(task, definition(app([{ containerPort: 50051 }, { containerPort: 9090 }])));
    expect(metrics.ambiguities).toEqual([
      {
        service: 'api',
        chosen: 'app:50051',
        candidates: ['app:50051', 'app:9090'],
        fix: expect.stringContaining('appProtocol: "grpc"'),
      },
    ]);
    // An http2 mark ranks first: gRPC runs over HTTP/2.
    const h2 = selectPorts(
      task,
      definition(app([{ containerPort: 9090 }, { containerPort: 8443, appProtocol: 'http2' }])),
    );
    expect(h2.chosen.map((c) => [c.containerPort, c.rule])).toEqual([[8443, ChoiceRule.Ambiguous]]);
  });
});

describe('planEndpoints: the app container stopped or restarting beside a one-port sidecar', () => {
  const custom = { name: 'sidecar', image: 'me/collector:1', essential: true, portMappings: [{ containerPort: 4000 }] };
  const def = definition(app([{ containerPort: 50051, appProtocol: 'grpc' }]), custom);
  const unmarked = definition(app([{ containerPort: 50051 }]), datadog);
  const withApp = (status: string) =>
    taskSnapshot('t1', {
      group: 'service:api',
      eniIpv4: '10.0.0.7',
      containers: [
        { name: 'app', lastStatus: status, networkBindings: [] },
        { name: 'sidecar', lastStatus: 'RUNNING', networkBindings: [] },
        { name: 'datadog-agent', lastStatus: 'RUNNING', networkBindings: [] },
      ],
    });

  it.each(['STOPPED', 'PENDING'])('publishes nothing (never the sidecar) while the app is %s', (status) => {
    for (const d of [def, unmarked]) {
      const plan = planEndpoints(withApp(status), d);
      expect(plan.endpoints).toEqual([]);
      expect(plan.skipped).toContainEqual({ container: 'app', reason: `container is ${status}` });
    }
  });

  it('publishes the app port again once it runs', () => {
    expect(planEndpoints(withApp('RUNNING'), def).endpoints).toEqual([
      { service: 'api', container: 'app', containerPort: 50051, ip: '10.0.0.7', port: 50051 },
    ]);
  });
});

describe('planEndpoints: address families', () => {
  const def = definition(app([{ containerPort: 50051 }]));
  const v6only = taskSnapshot('t1', {
    group: 'service:api',
    eniIpv6: '2600:1f18::7',
    containers: [{ name: 'app', networkBindings: [] }],
  });
  const dual = { ...v6only, eniIpv4: '10.0.0.7' };

  it('publishes an IPv6-only task at its IPv6 address under ipv4 and ipv6', () => {
    for (const addressFamily of ['ipv4', 'ipv6'] as const)
      expect(planEndpoints(v6only, def, undefined, [], { addressFamily }).endpoints.map((e) => e.ip)).toEqual([
        '2600:1f18::7',
      ]);
  });

  it('publishes a dual-stack task in the configured family', () => {
    expect(planEndpoints(dual, def).endpoints.map((e) => e.ip)).toEqual(['10.0.0.7']);
    expect(planEndpoints(dual, def, undefined, [], { addressFamily: 'ipv6' }).endpoints.map((e) => e.ip)).toEqual([
      '2600:1f18::7',
    ]);
  });

  it('skips a task with no address of a strict family with the reason (no error, so nothing retries)', () => {
    const plan = planEndpoints(v6only, def, undefined, [], { addressFamily: 'ipv4-only' });
    expect(plan.endpoints).toEqual([]);
    expect(plan.skipped).toEqual([
      { container: 'app', reason: expect.stringMatching(/^the task has no IPv4 address \(only IPv6 2600:1f18::7\)/) },
    ]);
  });

  it('uses the instance IPv6 address for bridge and host tasks when so configured', () => {
    const hostDef = toTaskDefinitionInfo({
      taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/api:2',
      family: 'api',
      networkMode: 'host',
      containerDefinitions: [app([{ containerPort: 50051 }])],
    });
    const hostTask = taskSnapshot('t1', { group: 'service:api' });
    const host = { ipv4: '10.1.2.3', ipv6: '2600:1F18::9' };
    expect(planEndpoints(hostTask, hostDef, host).endpoints.map((e) => e.ip)).toEqual(['10.1.2.3']);
    expect(planEndpoints(hostTask, hostDef, host, [], { addressFamily: 'ipv6' }).endpoints.map((e) => e.ip)).toEqual([
      '2600:1f18::9',
    ]);
    expect(planEndpoints(hostTask, hostDef, { ipv4: '10.1.2.3' }, [], { addressFamily: 'ipv6-only' }).skipped).toEqual([
      { container: 'app', reason: expect.stringMatching(/^the container instance has no IPv6 address/) },
    ]);
    expect(() => planEndpoints(hostTask, hostDef, { ipv6: 'fe80::9' }, [], { addressFamily: 'ipv6' })).toThrow(
      /containerInstance\.ipv6Address.*link-local/,
    );
  });
});

describe('selectPorts: the ECS service declaration', () => {
  const custom = {
    name: 'custom',
    image: 'me/custom:1',
    essential: true,
    portMappings: [{ containerPort: 7000, name: 'side' }],
  };
  const def = definition(custom, app([{ containerPort: 9090 }, { containerPort: 50051, name: 'rpc' }]));
  const declared = (fields: Partial<ServiceDeclaration>): ServiceDeclaration => ({
    service: 'api',
    ports: [],
    portNames: [],
    ...fields,
  });

  it.each([
    [
      'a load balancer container and port',
      { ports: [{ container: 'app', containerPort: 50051, source: 'loadBalancers[0]' }] },
    ],
    [
      'a Service Connect port name of the task definition',
      {
        portNames: [{ portName: 'rpc', taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/api:1' }],
      },
    ],
  ])('chooses the port the service declares by %s, with no guess', (_what, fields) => {
    const selection = selectPorts(task, def, { declared: declared(fields) });
    expect(selection.chosen.map((c) => [c.service, `${c.container}:${c.containerPort}`, c.rule])).toEqual([
      ['api', 'app:50051', ChoiceRule.EcsService],
    ]);
    expect(selection.ambiguities).toEqual([]);
  });

  it("ignores a declaration of a sidecar's port, another deployment's port name, or another service", () => {
    const sidecarTarget = declared({
      ports: [{ container: 'datadog-agent', containerPort: 8126, source: 'loadBalancers[0]' }],
    });
    const withAgent = definition(datadog, app([{ containerPort: 9090 }, { containerPort: 50051 }]));
    expect(selectPorts(task, withAgent, { declared: sidecarTarget }).chosen.map((c) => c.rule)).toEqual([
      ChoiceRule.Ambiguous,
    ]);
    const otherRevision = declared({
      portNames: [{ portName: 'rpc', taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/api:9' }],
    });
    expect(selectPorts(task, def, { declared: otherRevision }).chosen.map((c) => c.rule)).toEqual([
      ChoiceRule.Ambiguous,
    ]);
    const other = {
      ...declared({ ports: [{ container: 'app', containerPort: 50051, source: 'loadBalancers[0]' }] }),
      service: 'web',
    };
    expect(selectPorts(task, def, { declared: other }).chosen.map((c) => c.rule)).toEqual([ChoiceRule.Ambiguous]);
  });

  it('narrows the guess to the declared container when a registry names the container alone', () => {
    const registry = declared({ ports: [{ container: 'app', source: 'serviceRegistries[0]' }] });
    const selection = selectPorts(task, def, { declared: registry });
    expect(selection.ambiguities.map((a) => a.candidates)).toEqual([['app:9090', 'app:50051']]);
  });
});
