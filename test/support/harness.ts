/**
 * Test wiring: a registrar against the real etcd started by the global setup and a local ECS/EC2
 * endpoint driven through the real AWS SDK. Every harness uses its own key prefixes.
 */
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { inject } from 'vitest';
import { LocalAws } from '../kit/local-aws';
import { loadConfig, type Config } from '../../lib/config';
import { AwsEcsReader } from '../../lib/ecs/api';
import { createEtcdClient } from '../../lib/etcd/client';
import { prefixEnd, Registry } from '../../lib/etcd/registry';
import type { Log } from '../../lib/log';
import { Registrar } from '../../lib/registrar';
import { loadEc2 } from '../../lib/ecs/ec2-loader';
import { ECSClient } from '@aws-sdk/client-ecs';
import { claimNamespace, type ClaimResult } from '../../lib/etcd/ownership';
import { etcdCall } from '../../lib/etcd/operations';

/** A logger that remembers what it was told. */
export function memoryLog(): Log & { lines: { level: string; message: string; extra: unknown[] }[] } {
  const lines: { level: string; message: string; extra: unknown[] }[] = [];
  const at =
    (level: string) =>
    (message: string, ...extra: unknown[]) =>
      void lines.push({ level, message, extra });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

/** Config for one test: the shared etcd, unique prefixes, overrides on top. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const ns = `t-${randomUUID().slice(0, 8)}`;
  return {
    ETCD_ENDPOINTS: inject('etcdEndpoint'),
    REGISTRY_PREFIX: `${ns}/services`,
    STATE_PREFIX: `${ns}/registrar`,
    ...overrides,
  };
}

/** Everything a test needs to drive the registrar. */
export interface Harness {
  readonly config: Config;
  readonly etcd: Etcd3;
  readonly registry: Registry;
  readonly aws: LocalAws;
  readonly ecs: AwsEcsReader;
  readonly registrar: Registrar;
  readonly log: ReturnType<typeof memoryLog>;
  /** Every key and value under a prefix. */
  dump(prefix: string): Promise<Record<string, string>>;
  /** Endpoint keys and values under the registry prefix. */
  endpoints(): Promise<Record<string, string>>;
  /** `key → mod revision` of every key this harness's registrar may write (to prove nothing was written). */
  revisions(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

/** Starts a local AWS endpoint (with the sample task definitions) and wires a registrar to it. */
export async function createHarness(overrides: Record<string, string> = {}): Promise<Harness> {
  const aws = (await new LocalAws().start()).putSampleTaskDefinitions();
  Object.assign(process.env, aws.sdkEnv());
  return wireHarness(aws, loadConfig(testEnv(overrides)), new AwsEcsReader(undefined, { ec2: loadEc2 }));
}

/**
 * One deployment among several on the shared etcd: its own local ECS of `place` (account and
 * region), spoken to by its own SDK client, and a registrar configured from `env` alone (no test
 * prefixes: the defaults apply unless `env` sets them) with `STAGE`, `AWS_REGION` and `ACCOUNT_ID`.
 */
export async function createDeployment(
  place: { readonly stage: string; readonly account: string; readonly region: string },
  env: Record<string, string> = {},
): Promise<Harness & { claim(): Promise<ClaimResult> }> {
  const aws = (await new LocalAws({ account: place.account, region: place.region }).start()).putSampleTaskDefinitions();
  const config = loadConfig({
    ETCD_ENDPOINTS: inject('etcdEndpoint'),
    STAGE: place.stage,
    AWS_REGION: place.region,
    ACCOUNT_ID: place.account,
    ...env,
  });
  const client = new ECSClient({
    endpoint: aws.endpoint,
    region: place.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 2,
  });
  const h = wireHarness(aws, config, new AwsEcsReader(client, { ec2: loadEc2 }));
  // What every function's first invocation does (lib/handler/plumbing.ts).
  return { ...h, claim: () => claimNamespace({ client: h.etcd, config, call: etcdCall }) };
}

function wireHarness(aws: LocalAws, config: Config, ecs: AwsEcsReader): Harness {
  const etcd = createEtcdClient(config);
  const registry = new Registry(etcd, config);
  const log = memoryLog();
  const registrar = new Registrar({ config, etcd, registry, ecs, log });
  const dump = async (prefix: string) => {
    const res = await etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
    return Object.fromEntries(res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
  };
  const endpointPrefix = config.registryPrefix === '' ? '' : `${config.registryPrefix}/`;
  const revisions = async () => {
    const out: Record<string, string> = {};
    for (const prefix of [endpointPrefix, `${config.statePrefix}/`]) {
      const res = await etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
      for (const kv of res.kvs) out[kv.key.toString()] = kv.mod_revision;
    }
    return out;
  };
  return {
    config,
    etcd,
    registry,
    aws,
    ecs,
    registrar,
    log,
    dump,
    endpoints: () => dump(endpointPrefix),
    revisions,
    close: async () => {
      etcd.close();
      await aws.stop();
    },
  };
}
