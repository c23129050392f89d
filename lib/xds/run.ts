/**
 * `ecs-etcd-registrar xds`: runs the xDS server from the functions' configuration until told to
 * stop. etcd is read with the same client, credentials and TLS as the functions, with the
 * discovery client's fault handling (back in sync within about a second of etcd answering again).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { type Config, withRegistryPrefix, type XdsConfig } from '../config';
import { discoveryFaultHandling } from '../discovery/client-options';
import { ConfigError } from '../errors';
import { createEtcdClient } from '../etcd/client';
import type { EtcdCredentials } from '../etcd/credentials';
import { etcdCall } from '../etcd/operations';
import { adoptionWarning, claimNamespace } from '../etcd/ownership';
import type { Log } from '../log';
import { startXdsServer, type XdsServer } from './server';

/** Options of {@link runXds}. */
export interface RunXdsOptions {
  readonly config: Config;
  readonly xds: XdsConfig;
  readonly credentials?: EtcdCredentials;
  readonly log: Log;
  /** Aborted to stop (SIGTERM, SIGINT). */
  readonly signal: AbortSignal;
  /** Called once the server listens (tests read the bound port). */
  readonly onListening?: (server: XdsServer) => void;
}

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(variable, `cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The server's TLS credentials, or insecure ones when TLS is not configured. */
export function serverCredentials(xds: XdsConfig): grpc.ServerCredentials {
  if (!xds.tls) return grpc.ServerCredentials.createInsecure();
  const ca = xds.tls.clientCaFile ? readPem('XDS_TLS_CLIENT_CA_FILE', xds.tls.clientCaFile) : null;
  return grpc.ServerCredentials.createSsl(
    ca,
    [
      {
        cert_chain: readPem('XDS_TLS_CERT_FILE', xds.tls.certFile),
        private_key: readPem('XDS_TLS_KEY_FILE', xds.tls.keyFile),
      },
    ],
    ca !== null,
  );
}

/**
 * The health endpoint: `GET /healthz` answers 200 with the server's status once it serves, 503
 * before its first read of etcd. While etcd is down it stays 200: the last state is served.
 */
async function startHealth(server: XdsServer, host: string, port: number): Promise<Server> {
  const http = createServer((req, res) => {
    const status = server.status();
    const ok = req.url === '/healthz' && status.serving;
    res.writeHead(req.url === '/healthz' ? (ok ? 200 : 503) : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(status));
  });
  await new Promise<void>((resolve, reject) => http.once('error', reject).listen(port, host, resolve));
  return http;
}

function rootRefused(): ConfigError {
  return new ConfigError('REGISTRY_PREFIX', 'the xDS server serves <prefix>/<service>/: set a non-empty prefix');
}

/**
 * Serves xDS until `signal` is aborted, then closes the server and its etcd client. Without
 * `REGISTRY_PREFIX` it serves the directory the functions of its deployment (`STAGE`,
 * `AWS_REGION`, `ACCOUNT_ID`, `STATE_PREFIX`) run with: the default, or the one they adopted.
 *
 * @throws {ConfigError} for the root directory (every key in etcd would be served), unreadable TLS
 *   files, or a state namespace another deployment owns.
 * @example
 * const stop = new AbortController();
 * process.once('SIGTERM', () => stop.abort());
 * await runXds({ config: loadConfig(process.env), xds: loadXdsConfig(process.env), log, signal: stop.signal });
 */
export async function runXds(options: RunXdsOptions): Promise<void> {
  const { xds, log, signal } = options;
  let { config } = options;
  if (config.registryPrefixExplicit && config.registryPrefix === '') throw rootRefused();
  const credentials = serverCredentials(xds);
  const etcd = createEtcdClient(config, options.credentials, { faultHandling: discoveryFaultHandling() });
  let server: XdsServer | undefined;
  let health: Server | undefined;
  try {
    if (!config.registryPrefixExplicit) {
      // The functions' directory when REGISTRY_PREFIX is not set: the default, or the one their
      // deployment adopted (its owner record says; read only, and refused if another deployment's).
      const owned = await claimNamespace({ client: etcd, config, call: etcdCall }, { verifyOnly: true });
      if (owned.adopted) log.warn(`xds: ${adoptionWarning(config, owned.registryPrefix)}`);
      config = withRegistryPrefix(config, owned.registryPrefix);
      if (config.registryPrefix === '') throw rootRefused();
    }
    server = await startXdsServer({
      etcd,
      registryPrefix: config.registryPrefix,
      port: xds.port,
      host: xds.host,
      credentials,
      log,
    });
    if (xds.healthPort > 0) health = await startHealth(server, xds.host, xds.healthPort);
    log.info(`xds: listening on ${xds.host}:${server.port}${xds.tls ? ' (TLS)' : ''}`, {
      port: server.port,
      healthPort: xds.healthPort || null,
      registryPrefix: config.registryPrefix,
      etcd: config.etcdEndpoints,
    });
    options.onListening?.(server);
    if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    log.info('xds: stopping');
  } finally {
    health?.close();
    await server?.close();
    etcd.close();
  }
}
