/**
 * The etcd3 client, built from config once per process and reused across warm invocations.
 * Every unary call gets a deadline: the per-call `ETCD_TIMEOUT_MS`, never later than the
 * invocation's own deadline, so an unreachable etcd fails the invocation before Lambda kills it.
 */
import { Etcd3, type IOptions } from 'etcd3';
import type { Config } from '../config';
import { credentialsFingerprint, type EtcdCredentials } from './credentials';

let invocationDeadline: number | undefined;

/**
 * Sets the wall-clock time (ms since epoch) by which every etcd call of the current invocation
 * must have finished; `undefined` clears it. The handlers' middleware sets it from the Lambda context.
 */
export function setInvocationDeadline(epochMs: number | undefined): void {
  invocationDeadline = epochMs;
}

/** The current invocation's deadline (ms since epoch), if the handler set one. */
export function invocationDeadlineMs(): number | undefined {
  return invocationDeadline;
}

/** The deadline for an etcd call started now. */
export function callDeadline(timeoutMs: number): number {
  const own = Date.now() + timeoutMs;
  return invocationDeadline === undefined ? own : Math.min(own, invocationDeadline);
}

/** Builds a new etcd3 client for the configured endpoints, with TLS and auth when given. */
export function createEtcdClient(
  config: Pick<Config, 'etcdEndpoints' | 'etcdTimeoutMs'>,
  credentials?: EtcdCredentials,
  extra: Partial<IOptions> = {},
): Etcd3 {
  const secured: Partial<IOptions> = {};
  if (credentials?.ca || credentials?.cert) {
    if (!credentials.ca) throw new Error('a client certificate needs the CA of the etcd server too');
    secured.credentials = { rootCertificate: credentials.ca, certChain: credentials.cert, privateKey: credentials.key };
  }
  if (credentials?.username) secured.auth = { username: credentials.username, password: credentials.password ?? '' };
  return new Etcd3({
    hosts: [...config.etcdEndpoints],
    ...secured,
    dialTimeout: config.etcdTimeoutMs,
    defaultCallOptions: (context) =>
      // Streams (keepalive, watch) live as long as the invocation; unary calls get the short deadline.
      context.isStream
        ? invocationDeadline === undefined
          ? {}
          : { deadline: invocationDeadline }
        : { deadline: callDeadline(config.etcdTimeoutMs) },
    ...extra,
  });
}

let shared: { key: string; client: Etcd3 } | undefined;

/**
 * The process-wide client for this config and these credentials, created on first use and
 * replaced when the credentials change (a rotated secret).
 */
export function getEtcdClient(
  config: Pick<Config, 'etcdEndpoints' | 'etcdTimeoutMs'>,
  credentials?: EtcdCredentials,
): Etcd3 {
  const key = `${config.etcdEndpoints.join(',')}|${config.etcdTimeoutMs}|${credentialsFingerprint(credentials)}`;
  if (shared?.key !== key) {
    shared?.client.close();
    shared = { key, client: createEtcdClient(config, credentials) };
  }
  return shared.client;
}

/**
 * Finds out why etcd is unavailable over TLS, which grpc-js does not say: makes one TLS handshake
 * with the first https endpoint using the same CA and client certificate, and returns what failed
 * (untrusted server certificate, wrong host name, refused connection…), or `undefined` when the
 * handshake succeeds or TLS is not in use.
 */
export async function diagnoseTls(
  config: Pick<Config, 'etcdEndpoints'>,
  credentials?: EtcdCredentials,
  timeoutMs = 2000,
): Promise<string | undefined> {
  const endpoint = config.etcdEndpoints.find((e) => e.startsWith('https://'));
  if (!endpoint) return undefined;
  const url = new URL(endpoint);
  const { connect } = await import('node:tls');
  return new Promise((resolve) => {
    const socket = connect({
      host: url.hostname,
      port: Number(url.port),
      servername: /^[\d.]+$/.test(url.hostname) ? undefined : url.hostname,
      ca: credentials?.ca,
      cert: credentials?.cert,
      key: credentials?.key,
      ALPNProtocols: ['h2'],
      timeout: timeoutMs,
    });
    const done = (why: string | undefined) => {
      socket.destroy();
      resolve(why);
    };
    socket.once('secureConnect', () => done(undefined));
    socket.once('timeout', () => done(`no TLS handshake with ${url.host} within ${timeoutMs} ms`));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'error';
      if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND')
        return done(`etcd at ${url.host} is unreachable (${code})`);
      const trust = /CERT|SELF_SIGNED|VERIFY|ALTNAME/.test(code)
        ? credentials?.ca
          ? " — the server's certificate is not trusted by the configured CA, or does not name this address"
          : ' — no CA configured for etcd (set "ca" in the credentials)'
        : '';
      done(`TLS with etcd at ${url.host} failed: ${code}: ${err.message}${trust}`);
    });
  });
}
