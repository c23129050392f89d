/**
 * The operator CLI reads etcd credentials the way the functions do: TLS files and a password from
 * the environment, or a Secrets Manager secret (through the real AWS SDK against the local endpoint).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ExitCode, runCli } from '../../lib/cli/main';
import { createEtcdClient } from '../../lib/etcd/client';
import { Registry } from '../../lib/etcd/registry';
import { LocalAws } from '../kit/local-aws';
import { startSecureEtcd, type SecureEtcd } from '../kit/secure-etcd';

let secure: SecureEtcd;
let aws: LocalAws;
const SECRET_ID = 'ops/ecs-etcd-registrar/etcd';

async function cli(env: Record<string, string>, ...argv: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { env, stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  return { code, out, err };
}

const base = () => ({
  ETCD_ENDPOINTS: secure.etcd.endpoint,
  REGISTRY_PREFIX: secure.config.registryPrefix,
  STATE_PREFIX: secure.config.statePrefix,
  ETCD_TIMEOUT_MS: '3000',
});
const files = (password: string) => ({
  ETCD_CA_FILE: secure.pki.files.ca,
  ETCD_CERT_FILE: secure.pki.files.clientCert,
  ETCD_KEY_FILE: secure.pki.files.clientKey,
  ETCD_USERNAME: 'registrar',
  ETCD_PASSWORD: password,
});

beforeAll(async () => {
  secure = await startSecureEtcd();
  aws = await new LocalAws().start();
  // The AWS SDK takes its own configuration from the process environment, as in real use.
  Object.assign(process.env, aws.sdkEnv());
  const pem = secure.pki.pem;
  aws.secrets.set(
    SECRET_ID,
    JSON.stringify({
      username: 'registrar',
      password: secure.password,
      ca: pem.ca,
      cert: pem.clientCert,
      key: pem.clientKey,
    }),
  );
  // One task written as the registrar user, so the CLI reads records, keys and leases under auth.
  const client = createEtcdClient(secure.config, { ...secure.tls(), username: 'registrar', password: secure.password });
  try {
    const id = '0123456789abcdef0123456789abcdef';
    const written = await new Registry(client, secure.config).writeTask(
      {
        taskArn: `arn:aws:ecs:us-west-2:111122223333:task/c/${id}`,
        taskId: id,
        clusterArn: 'arn:aws:ecs:us-west-2:111122223333:cluster/c',
        clusterName: 'c',
        version: 1,
        state: 'registered',
        taskDefinitionArn: 'arn:aws:ecs:us-west-2:111122223333:task-definition/api:1',
        gatedContainers: [],
        entries: [{ key: `${secure.config.registryPrefix}/api/${id}:80`, value: '10.0.0.1:80' }],
      },
      { source: 'event' },
    );
    expect(written.status).toBe('written');
  } finally {
    client.close();
  }
});
afterAll(async () => {
  await aws?.stop();
  await secure?.etcd.stop();
});

it('reads a TLS etcd with auth using the credential files and password from the environment', async () => {
  expect(await cli({ ...base(), ...files(secure.password) }, 'check')).toEqual({
    code: ExitCode.Ok,
    out: 'consistent: 1 records, 1 endpoint keys, 0 tombstones\n',
    err: '',
  });
});

it('reads the credentials from ETCD_SECRET_ID', async () => {
  const { code, out, err } = await cli({ ...base(), ETCD_SECRET_ID: SECRET_ID }, 'ls');
  expect({ code, err }).toEqual({ code: ExitCode.Ok, err: '' });
  expect(out).toMatch(/^api\s+10\.0\.0\.1:80\s+0123456789abcdef0123456789abcdef\s+registered\s+\d+s$/m);
});

it('says etcd refused a wrong password, with exit 4', async () => {
  const { code, err } = await cli({ ...base(), ...files('wrong') }, 'ls');
  expect(code).toBe(ExitCode.Etcd);
  expect(err).toMatch(/^cannot read etcd at https:\/\/.*: .*rejected the user name or password/);
});

it("says why TLS failed when the configured CA did not sign etcd's certificate, with exit 4", async () => {
  const { code, err } = await cli(
    { ...base(), ...files(secure.password), ETCD_CA_FILE: secure.pki.files.otherCa },
    'check',
  );
  expect(code).toBe(ExitCode.Etcd);
  expect(err).toMatch(
    /^cannot read etcd at https:\/\/.*: TLS with etcd at .* failed: .*not trusted by the configured CA/,
  );
});

it('names the variable of an unreadable credential file, with exit 3', async () => {
  const { code, err } = await cli({ ...base(), ...files(secure.password), ETCD_CA_FILE: '/nonexistent/ca.pem' }, 'ls');
  expect({ code, err }).toEqual({
    code: ExitCode.Config,
    err: 'configuration error: ETCD_CA_FILE: cannot read /nonexistent/ca.pem: ENOENT\n',
  });
});
