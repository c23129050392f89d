import { describe, expect, it } from 'vitest';
import { clientBootstrap } from '../../../lib/xds/bootstrap';

describe('clientBootstrap', () => {
  it('names the server over ADS v3 and the client zone with its region', () => {
    expect(clientBootstrap({ server: 'xds.internal:18000', zone: 'us-east-1a', nodeId: 'orders' })).toEqual({
      xds_servers: [
        { server_uri: 'xds.internal:18000', channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
      ],
      node: { id: 'orders', locality: { region: 'us-east-1', zone: 'us-east-1a' } },
    });
  });

  it('leaves the locality empty without a zone, and asks for TLS when told', () => {
    const bootstrap = clientBootstrap({ server: '10.0.0.5:18000', tls: true }) as any;
    expect(bootstrap.node.locality).toEqual({});
    expect(bootstrap.xds_servers[0].channel_creds).toEqual([{ type: 'tls' }]);
  });

  it('rejects a server that is not host:port', () => {
    expect(() => clientBootstrap({ server: 'http://xds:18000' })).toThrow(/is not host:port/);
    expect(() => clientBootstrap({ server: 'xds' })).toThrow(/is not host:port/);
  });
});
