/**
 * The handlers read etcd credentials from Secrets Manager or SSM (through Powertools Parameters,
 * against the local endpoint with the real AWS SDK), cache them across invocations, and never
 * write a secret into a log line or an error.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalAws } from '../kit/local-aws';
import { loadEvent } from '../kit/events';
import { captureLogs, type CapturedLogs } from '../support/capture-logs';
import { lambdaContext, scheduledEvent } from '../kit/lambda';
import { startSecureEtcd, type SecureEtcd } from '../kit/secure-etcd';

let secure: SecureEtcd;
let aws: LocalAws;
let logs: CapturedLogs;
const SECRET_ID = 'prod/ecs-etcd-registrar/etcd';
const PARAMETER = '/prod/ecs-etcd-registrar/etcd';
const WRONG = 'wrong-password-7c1f';

function credentialsJson(password: string) {
  return JSON.stringify({
    username: 'registrar',
    password,
    ca: secure.pki.pem.ca,
    cert: secure.pki.pem.clientCert,
    key: secure.pki.pem.clientKey,
  });
}

/** Fresh handler modules configured from `env`, as a new Lambda container would be. */
async function handlersWith(env: Record<string, string | undefined>) {
  vi.resetModules();
  for (const name of ['ETCD_SECRET_ID', 'ETCD_SSM_PARAMETER']) delete process.env[name];
  Object.assign(process.env, env);
  return {
    register: (await import('../../functions/register')).handler,
    renew: (await import('../../functions/renew')).handler,
  };
}

beforeAll(async () => {
  secure = await startSecureEtcd();
  aws = (await new LocalAws().start()).putSampleTaskDefinitions();
  aws.secrets.set(SECRET_ID, credentialsJson(secure.password));
  aws.parameters.set(PARAMETER, credentialsJson(WRONG));
  Object.assign(process.env, aws.sdkEnv(), {
    ETCD_ENDPOINTS: secure.etcd.endpoint,
    REGISTRY_PREFIX: secure.config.registryPrefix,
    STATE_PREFIX: secure.config.statePrefix,
    ETCD_TIMEOUT_MS: '3000',
  });
  logs = captureLogs();
});

afterAll(async () => {
  vi.restoreAllMocks();
  await aws?.stop();
  await secure?.etcd.stop();
});

const secrets = () => [
  secure.password,
  WRONG,
  secure.pki.pem.clientKey.split('\n')[1]!,
  secure.pki.pem.clientCert.split('\n')[1]!,
];

describe('etcd credentials from a secret store', () => {
  it('registers and renews with credentials from Secrets Manager, reading the secret once', async () => {
    const { register, renew } = await handlersWith({ ETCD_SECRET_ID: SECRET_ID });
    const event = loadEvent('fargate-awsvpc-running-ecs-devguide');
    aws.putTaskFromDetail(event.detail);
    expect(await register(event, lambdaContext('register'))).toMatchObject({ action: 'registered' });
    expect(await register(event, lambdaContext('register'))).toMatchObject({ action: 'ignored', reason: 'duplicate' });
    expect(await renew(scheduledEvent, lambdaContext('renew'))).toMatchObject({ records: 1, renewed: 1, failed: 0 });
    expect(aws.count('GetSecretValue')).toBe(1);
  });

  it('fails with a clear error, and no secret in it, when the SSM parameter holds a wrong password', async () => {
    const { register } = await handlersWith({ ETCD_SSM_PARAMETER: PARAMETER });
    const event = loadEvent('fargate-awsvpc-running-ecs-devguide');
    const error = await register(
      { ...event, detail: { ...event.detail, version: 5 } },
      lambdaContext('register'),
    ).catch((e: unknown) => e);
    expect((error as Error).name).toBe('DependencyError'); // a fresh module instance: compare by name
    expect((error as Error).message).toMatch(
      /^etcd: read the state namespace owner failed: etcd rejected the user name or password/,
    );
    expect(aws.count('GetParameter')).toBe(1);
  });

  it('says when the secret cannot be read', async () => {
    const { register } = await handlersWith({ ETCD_SECRET_ID: 'prod/does-not-exist' });
    const error = await register(loadEvent('fargate-awsvpc-running-ecs-devguide'), lambdaContext('register')).catch(
      (e: unknown) => e,
    );
    expect((error as Error).name).toBe('DependencyError'); // a fresh module instance: compare by name
    expect((error as { dependency?: string }).dependency).toBe('secrets');
    expect((error as Error).message).toMatch(
      /^secrets: reading the etcd credentials from secret prod\/does-not-exist failed: ResourceNotFoundException/,
    );
  });

  it('never writes a password, key or certificate into a log line', () => {
    const logged = JSON.stringify(logs.lines());
    expect(logged).toContain('register done'); // the logs were captured
    expect(logged).toContain('register failed');
    for (const secret of secrets()) expect(logged).not.toContain(secret);
  });
});
