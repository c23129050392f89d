import { describe, expect, it } from 'vitest';
import { ExitCode, runCli } from '../../../lib/cli/main';

async function cli(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { env: {}, stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

describe('ecs-etcd-registrar xds bootstrap', () => {
  it('prints the bootstrap file for a client in a zone, without reading etcd or the configuration', async () => {
    const { code, out } = await cli('xds', 'bootstrap', '--server', 'xds.internal:18000', '--zone', 'eu-west-1b');
    expect(code).toBe(ExitCode.Ok);
    expect(JSON.parse(out)).toEqual({
      xds_servers: [
        { server_uri: 'xds.internal:18000', channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
      ],
      node: { id: 'ecs-etcd-registrar-client', locality: { region: 'eu-west-1', zone: 'eu-west-1b' } },
    });
  });

  it('says what is wrong with the server address, with exit 2', async () => {
    expect(await cli('xds', 'bootstrap', '--server', 'https://xds.internal')).toEqual({
      code: ExitCode.Usage,
      out: '',
      err: 'xDS server "https://xds.internal" is not host:port (e.g. xds.internal:18000)\n',
    });
  });

  it('xds itself needs the configuration: a missing ETCD_ENDPOINTS is named, with exit 3', async () => {
    const { code, err } = await cli('xds', '--port', '0');
    expect(code).toBe(ExitCode.Config);
    expect(err).toMatch(/^configuration error: ETCD_ENDPOINTS: is required/);
  });
});
