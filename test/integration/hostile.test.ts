/**
 * The hostile corpus (test/fixtures/hostile): every malformed or hostile event goes through the
 * real register and deregister handlers against an etcd of its own (leases are not namespaced).
 * Each must be rejected with an InvalidEventError naming the field, or ignored for a documented
 * reason; after each, etcd's revision, keys and leases must be exactly as before.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../lib/errors';
import { loadEvent, withDetail } from '../kit/events';
import { lambdaContext } from '../kit/lambda';
import { startIsolated, type Functions, type Isolated } from '../kit/platform';
import { etcdSnapshot, type EtcdSnapshot } from '../support/etcd';

type Json = Record<string, any>;
type Expectation = { rejected: string | null; message?: string } | { ignored: string };
interface Fixture {
  file: string;
  hostility: string;
  register: Expectation;
  deregister: Expectation;
}

const DIR = join(import.meta.dirname, '..', 'fixtures', 'hostile');
const read = (file: string): unknown => JSON.parse(readFileSync(join(DIR, file), 'utf8'));
const corpus = (read('index.json') as { fixtures: Fixture[] }).fixtures;
const aws = read('aws.json') as {
  taskDefinitions: Json[];
  containerInstances: { containerInstanceArn: string; ec2InstanceId: string; privateIpAddress: string }[];
};

let rig: Isolated;
let handlers: Functions;
let baseline: EtcdSnapshot;
const tally = { deliveries: 0, rejected: 0, ignored: 0, writes: 0, leasesLeaked: 0 };

const snapshot = () => etcdSnapshot(rig.client);

beforeAll(async () => {
  rig = await startIsolated();
  handlers = rig.functions;
  for (const definition of aws.taskDefinitions) rig.aws.putTaskDefinition(definition);
  for (const i of aws.containerInstances)
    rig.aws.putContainerInstance(i.containerInstanceArn, i.ec2InstanceId, i.privateIpAddress);
  // Real state to damage: one registered task (record, key, lease) and one tombstone (its lease).
  const running = loadEvent('fargate-awsvpc-running-ecs-devguide');
  rig.aws.putTaskFromDetail(running.detail); // the sample event is years old: ECS confirms the task runs
  expect(await handlers.register(running, lambdaContext('register'))).toMatchObject({ action: 'registered' });
  expect(
    await handlers.deregister(
      loadEvent('fargate-stopped-essential-container-exited-fivexl'),
      lambdaContext('deregister'),
    ),
  ).toMatchObject({ action: 'tombstoned' });
  baseline = await snapshot();
  expect(baseline.leases).toHaveLength(2);
});

afterAll(async () => rig?.stop());

describe('hostile corpus', () => {
  it('holds at least 50 events, each file listed in the index exactly once', () => {
    const files = readdirSync(DIR)
      .filter((f) => f !== 'index.json' && f !== 'aws.json')
      .sort();
    expect(corpus.map((f) => f.file).sort()).toEqual(files);
    expect(new Set(files).size).toBe(corpus.length);
    expect(corpus.length).toBeGreaterThanOrEqual(50);
  });

  describe.each(corpus)('$file ($hostility)', (fixture) => {
    it.each(['register', 'deregister'] as const)(
      '%s: rejects or ignores it as the index says, and writes nothing',
      async (name) => {
        const expected = fixture[name];
        const before = await snapshot();
        let result: unknown;
        let error: unknown;
        try {
          result = await handlers[name](read(fixture.file), lambdaContext(name));
        } catch (err) {
          error = err;
        }
        tally.deliveries++;
        const after = await snapshot();
        if (after.revision !== before.revision) tally.writes++;
        tally.leasesLeaked += after.leases.filter((l) => !before.leases.includes(l)).length;

        if ('rejected' in expected) {
          expect(error).toBeInstanceOf(InvalidEventError);
          const invalid = error as InvalidEventError;
          expect(invalid.path).toBe(expected.rejected ?? undefined);
          expect(
            invalid.message.startsWith(
              expected.rejected ? `invalid event at ${expected.rejected}: ` : 'invalid event: ',
            ),
          ).toBe(true);
          if (expected.message) expect(invalid.message).toContain(expected.message);
          // A clear message quotes at most a short piece of a hostile value.
          expect(invalid.message.length).toBeLessThan(400);
          tally.rejected++;
        } else {
          expect(error).toBeUndefined();
          expect(result).toMatchObject({ action: 'ignored', reason: expect.stringContaining(expected.ignored) });
          tally.ignored++;
        }
        expect(after).toEqual(before);
      },
    );
  });

  it('left etcd exactly as it was: no key written or deleted, no lease granted or revoked', async () => {
    console.log(
      `hostile corpus: ${corpus.length} events × 2 handlers = ${tally.deliveries} deliveries, ${tally.rejected} rejected, ${tally.ignored} ignored; ` +
        `deliveries that wrote to etcd: ${tally.writes}; leases leaked: ${tally.leasesLeaked}`,
    );
    expect(tally.deliveries).toBe(corpus.length * 2);
    expect(await snapshot()).toEqual(baseline);
    expect(tally.writes).toBe(0);
    expect(tally.leasesLeaked).toBe(0);
  });
});

describe('names at the edge of what is allowed', () => {
  // Accepted events must still write only under <REGISTRY_PREFIX>/<service>/ and <STATE_PREFIX>/.
  const CONFINED =
    /^(services\/[A-Za-z0-9][A-Za-z0-9._-]{0,254}\/[A-Za-z0-9-]+:\d{1,5}|registrar\/(tasks|tombstones)\/\d{12}\.[a-z0-9-]+\.[A-Za-z0-9_-]+\/[A-Za-z0-9-]+|registrar\/clusters\/\d{12}\.[a-z0-9-]+\.[A-Za-z0-9_-]+|registrar\/owner)$/;
  const base = loadEvent('fargate-awsvpc-running-ecs-devguide');
  const edgeCases: [what: string, service: string, changes: Json][] = [
    ['a dotted label', 'api.v2', {}],
    ['a label of 255 characters', `a${'b'.repeat(254)}`, {}],
    ['a label starting with a digit', '0day', {}],
    ['a label with "_" and "-"', 'A_b-C', {}],
  ];

  it.each(edgeCases)('registers %s, and every key stays in its directory', async (what, service, changes) => {
    const n = edgeCases.findIndex((e) => e[0] === what);
    const arn = `arn:aws:ecs:us-west-2:111122223333:task-definition/edge-${n}:1`;
    rig.aws.putTaskDefinition({
      taskDefinitionArn: arn,
      family: `edge-${n}`,
      networkMode: 'awsvpc',
      containerDefinitions: [
        {
          name: 'FargateApp',
          portMappings: [{ containerPort: 65535, protocol: 'tcp' }],
          dockerLabels: { 'registrar.service': service },
        },
      ],
    });
    const taskArn = base.detail.taskArn.replace(/[0-9a-f]{4}$/, `edc${n}`);
    const event = {
      ...withDetail(base, { taskArn, taskDefinitionArn: arn, ...changes }),
      time: new Date().toISOString(),
    };
    expect(await handlers.register(event, lambdaContext('register'))).toMatchObject({
      action: 'registered',
      keys: [`services/${service}/${taskArn.split('/').pop()}:65535`],
    });
    const keys = (await snapshot()).kvs.map(([key]) => key);
    expect(keys.filter((k) => !CONFINED.test(k))).toEqual([]);
  });
});
