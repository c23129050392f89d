/**
 * Starts throwaway etcd servers on 127.0.0.1 for tests, the demo and the benchmarks: one member
 * ({@link startLocalEtcd}) or a cluster ({@link startLocalEtcdCluster}), on free ports, each member
 * with a temp data dir removed on stop. Members can be killed and restarted to test failures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';

/** A running local etcd member. */
export interface LocalEtcd {
  /** Member name, e.g. `local` or `m1`. */
  readonly name: string;
  /** Client URL, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  /** Whether the member's process is running. */
  readonly running: boolean;
  /** The server's process id (benchmarks read its CPU time). */
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its data dir. */
  stop(): Promise<void>;
  /** Kills the server at once (SIGKILL, as a crash would), keeping its data dir for {@link restart}. */
  kill(): Promise<void>;
  /** Starts a killed member again with the same name, ports and data, and waits until it answers. */
  restart(): Promise<void>;
  /** What etcd's maintenance Status API says: this member's id, the leader's id and the raft index. */
  status(): Promise<MemberStatus>;
}

/** A member's answer to `/v3/maintenance/status` (ids are decimal strings: they are 64-bit). */
export interface MemberStatus {
  readonly memberId: string;
  readonly leader: string;
  readonly raftIndex: number;
}

/** A running local etcd cluster. */
export interface LocalEtcdCluster {
  readonly members: readonly LocalEtcd[];
  /** Every member's client URL, as `ETCD_ENDPOINTS` takes them (comma-joined). */
  readonly endpoints: readonly string[];
  /** The member that is leader now, as the running members report it (waits for an election). */
  leader(timeoutMs?: number): Promise<LocalEtcd>;
  /** Stops every member and removes their data dirs. */
  stop(): Promise<void>;
}

/** Facts about one member, for per-member flags. */
export interface MemberInfo {
  readonly name: string;
  readonly index: number;
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** Plain-HTTP port for /health when clients are served over TLS. */
  readonly metricsPort?: number;
}

/** Options for {@link startLocalEtcd} and {@link startLocalEtcdCluster}. */
export interface LocalEtcdOptions {
  /**
   * Extra command-line flags for etcd, the same for every member or per member (e.g. TLS files).
   * They come after the launcher's own flags, so a flag given here wins.
   */
  readonly extraArgs?: readonly string[] | ((member: MemberInfo) => readonly string[]);
  /** How long to wait for the server to answer. @default 20000 */
  readonly startTimeoutMs?: number;
  /** Prints etcd's own log to stderr. @default false */
  readonly verbose?: boolean;
  /** Client port of the first member. @default a free port */
  readonly clientPort?: number;
  /** Serve clients over TLS, requiring client certificates signed by `trustedCaFile`. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly trustedCaFile: string };
}

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitHealthy(
  endpoint: string,
  child: ChildProcess,
  timeoutMs: number,
  log: () => string,
  spawnError: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (spawnError()) throw new Error(spawnError());
    if (child.exitCode !== null)
      throw new Error(`etcd exited with code ${child.exitCode} before it was ready:\n${log()}`);
    try {
      // Healthy means: serving and part of a cluster with a leader.
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`etcd at ${endpoint} was not healthy within ${timeoutMs} ms:\n${log()}`);
}

/** One etcd process that can be killed and started again on the same ports and data dir. */
class Member implements LocalEtcd {
  readonly endpoint: string;
  /** Where health is read: the client URL, or a plain-HTTP metrics listener when clients use TLS. */
  private readonly healthUrl: string;
  private child?: ChildProcess;
  private output = '';
  private spawnError?: string;

  constructor(
    private readonly info: MemberInfo,
    private readonly args: readonly string[],
    private readonly options: LocalEtcdOptions,
  ) {
    this.endpoint = `${options.tls ? 'https' : 'http'}://127.0.0.1:${info.clientPort}`;
    this.healthUrl = info.metricsPort ? `http://127.0.0.1:${info.metricsPort}` : this.endpoint;
  }

  get name(): string {
    return this.info.name;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process without waiting for it to answer. */
  spawn(): void {
    const bin = process.env.ETCD_BIN ?? 'etcd';
    const child = spawn(bin, this.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' },
    });
    const collect = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-8000);
      if (this.options.verbose) process.stderr.write(chunk);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.spawnError = undefined;
    child.once('error', (err) => {
      this.spawnError = `could not start ${bin}: ${err.message} (run: node scripts/ensure-etcd.mjs)`;
    });
    this.child = child;
  }

  async waitHealthy(): Promise<void> {
    await waitHealthy(
      this.healthUrl,
      this.child!,
      this.options.startTimeoutMs ?? 20000,
      () => this.output,
      () => this.spawnError,
    );
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }

  kill(): Promise<void> {
    return this.end('SIGKILL');
  }

  async restart(): Promise<void> {
    if (this.running) throw new Error(`etcd member ${this.name} is still running`);
    this.spawn();
    await this.waitHealthy();
  }

  async stop(): Promise<void> {
    await this.end('SIGTERM');
    rmSync(this.info.dataDir, { recursive: true, force: true });
  }

  async status(): Promise<MemberStatus> {
    const res = await fetch(`${this.endpoint}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(1000),
    });
    if (!res.ok) throw new Error(`status of ${this.name}: HTTP ${res.status}`);
    const body = (await res.json()) as { header?: { member_id?: string }; leader?: string; raftIndex?: string };
    return {
      memberId: String(body.header?.member_id ?? ''),
      leader: String(body.leader ?? '0'),
      raftIndex: Number(body.raftIndex ?? 0),
    };
  }
}

async function launch(size: number, options: LocalEtcdOptions): Promise<Member[]> {
  const token = `registrar-${randomUUID().slice(0, 8)}`;
  const infos: MemberInfo[] = [];
  for (let index = 0; index < size; index++) {
    const name = size === 1 ? 'local' : `m${index}`;
    infos.push({
      name,
      index,
      dataDir: mkdtempSync(join(tmpdir(), `registrar-etcd-${name}-`)),
      clientPort: (index === 0 ? options.clientPort : undefined) ?? (await findFreePort()),
      peerPort: await findFreePort(),
      metricsPort: options.tls ? await findFreePort() : undefined,
    });
  }
  const peer = (m: MemberInfo) => `http://127.0.0.1:${m.peerPort}`;
  const initialCluster = infos.map((m) => `${m.name}=${peer(m)}`).join(',');
  const members = infos.map((info) => {
    const client = `${options.tls ? 'https' : 'http'}://127.0.0.1:${info.clientPort}`;
    const extra = typeof options.extraArgs === 'function' ? options.extraArgs(info) : (options.extraArgs ?? []);
    const tls = options.tls
      ? [
          '--cert-file',
          options.tls.certFile,
          '--key-file',
          options.tls.keyFile,
          '--trusted-ca-file',
          options.tls.trustedCaFile,
          '--client-cert-auth',
          '--listen-metrics-urls',
          `http://127.0.0.1:${info.metricsPort}`,
        ]
      : [];
    const args = [
      '--name',
      info.name,
      '--data-dir',
      info.dataDir,
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer(info),
      '--initial-advertise-peer-urls',
      peer(info),
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      token,
      '--initial-cluster-state',
      'new',
      '--log-level',
      'warn',
      ...tls,
      ...extra,
    ];
    return new Member(info, args, options);
  });
  // Members of a new cluster must start together: none is healthy before a quorum has elected a leader.
  for (const member of members) member.spawn();
  try {
    await Promise.all(members.map((m) => m.waitHealthy()));
  } catch (err) {
    await Promise.all(members.map((m) => m.stop()));
    throw err;
  }
  return members;
}

/**
 * Starts a single-member etcd on free loopback ports with a fresh data dir.
 *
 * @example
 * const etcd = await startLocalEtcd();
 * process.env.ETCD_ENDPOINTS = etcd.endpoint;
 * // ...
 * await etcd.stop();
 */
export async function startLocalEtcd(options: LocalEtcdOptions = {}): Promise<LocalEtcd> {
  const [member] = await launch(1, options);
  return member!;
}

/**
 * Starts an etcd cluster of `size` members on loopback, each with its own ports and data dir.
 *
 * @example
 * const cluster = await startLocalEtcdCluster(3);
 * process.env.ETCD_ENDPOINTS = cluster.endpoints.join(',');
 * await (await cluster.leader()).kill();
 * // ...
 * await cluster.stop();
 */
export async function startLocalEtcdCluster(size: number, options: LocalEtcdOptions = {}): Promise<LocalEtcdCluster> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`cluster size must be a whole number ≥ 1, got ${size}`);
  const members = await launch(size, options);
  return {
    members,
    endpoints: members.map((m) => m.endpoint),
    async leader(timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        for (const member of members.filter((m) => m.running)) {
          const status = await member.status().catch(() => undefined);
          if (status && status.leader !== '0' && status.leader === status.memberId) return member;
        }
        await sleep(100);
      }
      throw new Error(`no etcd member reported itself leader within ${timeoutMs} ms`);
    },
    async stop() {
      await Promise.all(members.map((m) => m.stop()));
    },
  };
}

/**
 * Compacts the history of the etcd at `endpoint` up to its current revision (physically), as an
 * operator's `etcdctl compact` would: watches from an older revision fail from then on.
 */
export async function compactHistory(endpoint: string): Promise<void> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    const { header } = await client.kv.range({ key: Buffer.from('\0'), limit: '1' });
    await client.kv.compact({ revision: header.revision, physical: true });
  } finally {
    client.close();
  }
}
