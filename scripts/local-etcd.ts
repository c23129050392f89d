/**
 * Starts throwaway etcd servers on 127.0.0.1 for tests, the demo and the benchmarks:
 * free ports, a temp data dir, removed on stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running local etcd member. */
export interface LocalEtcd {
  /** Client URL, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  /** The server's process id (benchmarks read its CPU time). */
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its data dir. */
  stop(): Promise<void>;
}

/** Options for {@link startLocalEtcd}. */
export interface LocalEtcdOptions {
  /** Extra command-line flags for etcd. */
  readonly extraArgs?: readonly string[];
  /** How long to wait for the server to answer. @default 20000 */
  readonly startTimeoutMs?: number;
  /** Prints etcd's own log to stderr. @default false */
  readonly verbose?: boolean;
  /** Client port to listen on. @default a free port */
  readonly clientPort?: number;
}

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitHealthy(endpoint: string, child: ChildProcess, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`etcd exited with code ${child.exitCode} before it was ready:\n${log()}`);
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd at ${endpoint} was not healthy within ${timeoutMs} ms:\n${log()}`);
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
  const bin = process.env.ETCD_BIN ?? 'etcd';
  const dataDir = mkdtempSync(join(tmpdir(), 'registrar-etcd-'));
  const [clientPort, peerPort] = [options.clientPort ?? (await findFreePort()), await findFreePort()];
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'local',
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `local=${peer}`,
    '--initial-cluster-state', 'new',
    '--log-level', 'warn',
    ...(options.extraArgs ?? []),
  ];
  let output = '';
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' } });
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
    if (options.verbose) process.stderr.write(chunk);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`could not start ${bin}: ${err.message} (run: node scripts/ensure-etcd.mjs)`))),
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await Promise.race([waitHealthy(endpoint, child, options.startTimeoutMs ?? 20000, () => output), spawnError]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, pid: child.pid!, stop };
}
