/**
 * The etcd3 client, built from config once per process and reused across warm invocations.
 * Every unary call gets a deadline: the per-call `ETCD_TIMEOUT_MS`, never later than the
 * invocation's own deadline, so an unreachable etcd fails the invocation before Lambda kills it.
 * Calls avoid a member that is down or silent ({@link MemberHealth}), and keepalive streams can be
 * opened on a chosen member ({@link EtcdClient.member}) to renew elsewhere what one member failed.
 */
import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';
import type { Config } from '../config';
import { credentialsFingerprint, type EtcdCredentials } from './credentials';
import { MemberHealth } from './member-health';

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

/**
 * An etcd3 client over every configured member that knows which members answer
 * ({@link MemberHealth}: a down or silent member is skipped, no 5 s circuit breaker), and hands out
 * a client bound to one member for streams that must be opened on a chosen one.
 */
export class EtcdClient extends Etcd3 {
  /** Which members answer, shared by this client's calls and its per-member clients. */
  readonly health: MemberHealth;
  private readonly members = new Map<string, Etcd3>();

  constructor(
    private readonly memberOptions: Omit<IOptions, 'hosts'> & { readonly hosts: string[] },
    health = new MemberHealth(memberOptions.hosts, { invocationDeadline: invocationDeadlineMs }),
  ) {
    super({
      ...memberOptions,
      faultHandling: {
        host: (endpoint) => health.policy(endpoint),
        global: health.retryPolicy(),
        ...memberOptions.faultHandling,
      },
    });
    this.health = health;
  }

  /**
   * A client whose calls and streams go to `endpoint` only (one of the configured ones), with no
   * retry of its own: the caller decides where to go next. Created on first use, closed with this one.
   */
  member(endpoint: string): Etcd3 {
    let client = this.members.get(endpoint);
    if (!client) {
      if (!this.health.endpoints.includes(endpoint)) throw new Error(`${endpoint} is not a configured etcd endpoint`);
      client = new Etcd3({
        ...this.memberOptions,
        hosts: [endpoint],
        faultHandling: { host: () => this.health.policy(endpoint, { skip: false }), global: noop },
      });
      this.members.set(endpoint, client);
    }
    return client;
  }

  override close(): void {
    for (const client of this.members.values()) client.close();
    this.members.clear();
    super.close();
  }
}

/** Builds a new etcd3 client for the configured endpoints, with TLS and auth when given. */
export function createEtcdClient(
  config: Pick<Config, 'etcdEndpoints' | 'etcdTimeoutMs'>,
  credentials?: EtcdCredentials,
  extra: Partial<IOptions> = {},
): EtcdClient {
  const secured: Partial<Omit<IOptions, 'hosts'>> = {};
  if (credentials?.ca || credentials?.cert) {
    if (!credentials.ca) throw new Error('a client certificate needs the CA of the etcd server too');
    secured.credentials = { rootCertificate: credentials.ca, certChain: credentials.cert, privateKey: credentials.key };
  }
  if (credentials?.username) secured.auth = { username: credentials.username, password: credentials.password ?? '' };
  const { hosts, ...rest } = extra;
  const endpoints: string[] =
    hosts === undefined ? [...config.etcdEndpoints] : typeof hosts === 'string' ? [hosts] : [...hosts];
  return new EtcdClient({
    hosts: endpoints,
    ...secured,
    dialTimeout: config.etcdTimeoutMs,
    defaultCallOptions: (context) =>
      // Streams (keepalive, watch) live as long as the invocation; unary calls get the short deadline.
      context.isStream
        ? invocationDeadline === undefined
          ? {}
          : { deadline: invocationDeadline }
        : { deadline: callDeadline(config.etcdTimeoutMs) },
    ...rest,
  });
}

let shared: { key: string; client: EtcdClient } | undefined;

/**
 * The process-wide client for this config and these credentials, created on first use and
 * replaced when the credentials change (a rotated secret).
 */
export function getEtcdClient(
  config: Pick<Config, 'etcdEndpoints' | 'etcdTimeoutMs'>,
  credentials?: EtcdCredentials,
): EtcdClient {
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
