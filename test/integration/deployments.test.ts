/**
 * Several registrars on one etcd, each with its own local ECS (its own account and region): two
 * regions, two accounts, dev and prod, every one with a cluster named `prod`, with the default
 * prefixes and with the layout docs/operations.md documents, over interleaved ticks.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ExitCode, runCli } from '../../lib/cli/main';
import { ConfigError, InvalidEventError } from '../../lib/errors';
import { prefixEnd } from '../../lib/etcd/registry';
import { recordKey } from '../../lib/keys';
import { fargateEvent } from '../kit/events';
import { createDeployment } from '../support/harness';
import { renewTasks } from '../../lib/renew/run';

type Deployment = Awaited<ReturnType<typeof createDeployment>>;
interface Place {
  readonly stage: string;
  readonly account: string;
  readonly region: string;
}
type Json = Record<string, any>;

/** A fresh 12-digit account, so the default namespaces of this run are its own on the shared etcd. */
const newAccount = () => String(randomInt(100_000, 999_999)) + String(randomInt(100_000, 999_999));
const run = randomUUID().slice(0, 6);
const open: Deployment[] = [];

afterEach(async () => {
  for (const d of open.splice(0)) {
    for (const prefix of [`${d.config.statePrefix}/`, `${d.config.registryPrefix}/`])
      await d.etcd.kv.deleteRange({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
    await d.close();
  }
});

async function start(place: Place, env: Record<string, string> = {}): Promise<Deployment> {
  const d = await createDeployment(place, env);
  open.push(d);
  return d;
}

/** Three running tasks of `d`'s cluster `prod`, known to its ECS and registered by its registrar. */
async function registerTasks(d: Deployment, place: Place, first: number): Promise<Json[]> {
  const events = [first, first + 1, first + 2].map((n) =>
    fargateEvent(n, { salt: `${place.stage}${place.region}${place.account}`, place: { ...place, cluster: 'prod' } }),
  );
  for (const event of events) {
    d.aws.putTaskFromDetail(event.detail);
    expect(await d.registrar.registerEvent(event)).toMatchObject({ action: 'registered' });
  }
  return events;
}

/** Each task's record (mod revision, lease) and endpoint keys (lease), as etcd holds them now. */
async function published(d: Deployment, events: readonly Json[]) {
  const out: Record<string, unknown> = {};
  for (const event of events) {
    const taskId = event.detail.taskArn.split('/').pop();
    const { record } = await d.registry.readTask({ clusterArn: event.detail.clusterArn, taskId });
    const keys = [];
    for (const key of record?.record.keys ?? []) {
      const kv = (await d.etcd.kv.range({ key: Buffer.from(key) })).kvs[0];
      keys.push({ key, lease: kv?.lease, value: kv?.value.toString() });
    }
    out[taskId] = record && { state: record.record.state, lease: record.lease, rev: record.modRevision, keys };
  }
  return out;
}

const layouts: [name: string, env: (p: Place, sharedStage: boolean) => Record<string, string>][] = [
  ['the default prefixes', () => ({})],
  [
    'the documented layout',
    // docs/operations.md: one service directory per stage, shared by its regions; one state namespace per deployment.
    (p, sharedStage) => ({
      REGISTRY_PREFIX: sharedStage ? `t-${run}/services` : `t-${run}/services/${p.stage}`,
      STATE_PREFIX: `t-${run}/registrar/${p.stage}/${p.region}/${p.account}`,
    }),
  ],
];

const scenarios: [name: string, places: () => [Place, Place], sharedStage: boolean][] = [
  [
    'two regions of one account and stage',
    () => {
      const account = newAccount();
      return [
        { stage: `prod${run}`, account, region: 'eu-west-1' },
        { stage: `prod${run}`, account, region: 'us-east-1' },
      ];
    },
    true,
  ],
  [
    'two accounts in one region and stage',
    () => [
      { stage: `prod${run}`, account: newAccount(), region: 'eu-west-1' },
      { stage: `prod${run}`, account: newAccount(), region: 'eu-west-1' },
    ],
    true,
  ],
  [
    'dev and prod in one account and region',
    () => {
      const account = newAccount();
      return [
        { stage: `prod${run}`, account, region: 'eu-west-1' },
        { stage: `dev${run}`, account, region: 'eu-west-1' },
      ];
    },
    false,
  ],
];

describe.each(layouts)('deployments on one etcd, with %s', (_layout, envOf) => {
  it.each(scenarios)(
    '%s: interleaved ticks never remove, mark or re-point the other’s tasks',
    async (_s, placesOf, shared) => {
      const [pa, pb] = placesOf();
      const a = await start(pa, envOf(pa, shared));
      const b = await start(pb, envOf(pb, shared));
      expect(a.config.statePrefix).not.toBe(b.config.statePrefix);
      expect((await a.claim()).claimed).toBe(true);
      expect((await b.claim()).claimed).toBe(true);
      // Both clusters are called `prod`: their keys differ by account and region.
      const tasksA = await registerTasks(a, pa, 1);
      const tasksB = await registerTasks(b, pb, 11);
      const before = { a: await published(a, tasksA), b: await published(b, tasksB) };
      for (const p of [...Object.values(before.a), ...Object.values(before.b)])
        expect(p).toMatchObject({
          state: 'registered',
          keys: [expect.objectContaining({ lease: expect.any(String) })],
        });

      for (let tick = 0; tick < 3; tick++)
        for (const d of tick % 2 === 0 ? [a, b] : [b, a]) {
          const summary = await renewTasks(d.registrar);
          expect(summary).toMatchObject({
            records: 3,
            renewed: 3,
            removed: 0,
            missing: 0,
            clustersRemoved: 0,
            failed: 0,
          });
          expect(summary.applied).toEqual([]);
        }

      // Same records at the same revisions, same keys on the same leases with the same values.
      expect(await published(a, tasksA)).toEqual(before.a);
      expect(await published(b, tasksB)).toEqual(before.b);
      for (const d of [a, b]) {
        expect(await d.dump(`${d.config.statePrefix}/missing/`)).toEqual({});
        expect(d.log.lines.filter((l) => l.level === 'error')).toEqual([]);
      }
      // Neither ECS was ever asked about the other's cluster.
      expect([...a.aws.clustersAsked]).toEqual([tasksA[0]!.detail.clusterArn]);
      expect([...b.aws.clustersAsked]).toEqual([tasksB[0]!.detail.clusterArn]);

      // A directory of one stage never holds another stage's endpoints; two regions of one stage share theirs.
      const idsOf = (events: Json[]) => events.map((e) => e.detail.taskArn.split('/').pop());
      const dirA = Object.keys(await a.endpoints()).map((k) => k.split('/').pop()!.split(':')[0]);
      expect(dirA.sort()).toEqual((shared ? [...idsOf(tasksA), ...idsOf(tasksB)] : idsOf(tasksA)).sort());

      // The operator CLI of each deployment finds its own registry consistent: the other's keys in a
      // shared directory are not taken for orphans, the other's records are not read.
      for (const p of [pa, pb]) {
        let out = '';
        const env = {
          ETCD_ENDPOINTS: inject('etcdEndpoint'),
          STAGE: p.stage,
          AWS_REGION: p.region,
          ACCOUNT_ID: p.account,
        };
        const code = await runCli(['check'], {
          env: { ...env, ...envOf(p, shared) },
          stdout: (t) => void (out += t),
          stderr: (t) => void (out += t),
        });
        expect({ code, out }).toEqual({
          code: ExitCode.Ok,
          out: `consistent: 3 records, 3 endpoint keys, 0 tombstones\n`,
        });
      }

      // The other's event is refused before anything is written or asked.
      const revisions = await a.revisions();
      const asked = a.aws.calls.get('DescribeTaskDefinition');
      if (pa.account !== pb.account || pa.region !== pb.region) {
        await expect(a.registrar.registerEvent(tasksB[0])).rejects.toThrow(InvalidEventError);
        await expect(a.registrar.registerEvent(tasksB[0])).rejects.toThrow(
          /another deployment.*this deployment serves/,
        );
        expect(await a.revisions()).toEqual(revisions);
        expect(a.aws.calls.get('DescribeTaskDefinition')).toBe(asked);
      }
    },
  );
});

describe('a state namespace', () => {
  it('holding a record of another account or region: renew skips it at ERROR, never asks ECS about it, removes nothing', async () => {
    const place = { stage: `prod${run}`, account: newAccount(), region: 'eu-west-1' };
    const d = await start(place);
    await d.claim();
    const [mine] = await registerTasks(d, place, 31);
    const { record } = await d.registry.readTask({
      clusterArn: mine!.detail.clusterArn,
      taskId: mine!.detail.taskArn.split('/').pop(),
    });
    // A hand copy of another region's record (a cluster also called prod), in this namespace.
    const foreignCluster = `arn:aws:ecs:us-east-1:${place.account}:cluster/prod`;
    const foreignTask = `arn:aws:ecs:us-east-1:${place.account}:task/prod/0123456789abcdef0123456789abcdef`;
    const key = recordKey(d.config.statePrefix, foreignCluster, '0123456789abcdef0123456789abcdef');
    await d.etcd
      .put(key)
      .value(JSON.stringify({ ...record!.record, taskArn: foreignTask, clusterArn: foreignCluster }))
      .exec();
    const rev = (await d.etcd.kv.range({ key: Buffer.from(key) })).kvs[0]!.mod_revision;

    const summary = await renewTasks(d.registrar);
    expect(summary).toMatchObject({ records: 3, renewed: 3, removed: 0, missing: 0, clustersRemoved: 0, failed: 0 });
    expect(d.log.lines.find((l) => l.level === 'error')).toMatchObject({
      message: "renew skipped records that are not this deployment's",
      extra: [{ count: 1, records: [{ key, error: expect.stringContaining('is of account') }] }],
    });
    expect((await d.etcd.kv.range({ key: Buffer.from(key) })).kvs[0]?.mod_revision).toBe(rev);
    expect([...d.aws.clustersAsked]).toEqual([mine!.detail.clusterArn]);
  });

  it('owned by another region, account or stage is refused at start, naming both, and nothing is written', async () => {
    const account = newAccount();
    const namespace = `t-${run}/shared-${randomUUID().slice(0, 6)}`;
    const env = { STATE_PREFIX: namespace, REGISTRY_PREFIX: `t-${run}/services` };
    const owner = await start({ stage: `prod${run}`, account, region: 'eu-west-1' }, env);
    await owner.claim();
    await registerTasks(owner, { stage: `prod${run}`, account, region: 'eu-west-1' }, 21);

    for (const place of [
      { stage: `prod${run}`, account, region: 'us-east-1' },
      { stage: `prod${run}`, account: newAccount(), region: 'eu-west-1' },
      { stage: `dev${run}`, account, region: 'eu-west-1' },
    ]) {
      const other = await start(place, env);
      const revisions = await other.revisions();
      const error = await other.claim().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe('STATE_PREFIX');
      expect((error as Error).message).toContain(`owned by stage prod${run}, region eu-west-1, account ${account}`);
      expect((error as Error).message).toContain(
        `this deployment (stage ${place.stage}, region ${place.region}, account ${place.account})`,
      );
      expect(await other.revisions()).toEqual(revisions);
    }
    // Its owner starts again as before.
    expect(await owner.claim()).toMatchObject({ claimed: false });
  });
});
