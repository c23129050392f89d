/**
 * Builds and runs the Go programs of the interop test: `go-server` (grpc-go's packaged
 * grpc.health.v1 server) and `go-client` (etcd's own Go naming resolver + round_robin). Built
 * offline in GOPATH mode from Debian's packaged sources (test/interop/go-client, go-server); the
 * binaries go to a temp dir.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { GOCODE } from '../../scripts/ensure-go.mjs';

/** Where the Go programs' sources are. */
const SOURCES = join(import.meta.dirname, '..', 'interop');

/** Paths of the built programs. */
export interface GoPrograms {
  readonly dir: string;
  readonly client: string;
  readonly server: string;
}

/** Builds both programs into a new temp dir. */
export async function buildGoPrograms(): Promise<GoPrograms> {
  const dir = mkdtempSync(join(tmpdir(), 'registrar-go-'));
  const env = {
    ...process.env,
    GOPATH: `${join(dir, 'gopath')}:${GOCODE}`,
    GO111MODULE: 'off',
    GOPROXY: 'off',
    GOFLAGS: '',
    // The build cache lives in $HOME/.cache unless the machine has no home.
    ...(process.env.GOCACHE || process.env.HOME ? {} : { GOCACHE: join(tmpdir(), 'registrar-go-cache') }),
  };
  const build = (name: string) =>
    promisify(execFile)('go', ['build', '-o', join(dir, name), `./${name}`], {
      cwd: SOURCES,
      env,
      timeout: 300_000,
    }).catch((err: Error & { stderr?: string }) => {
      throw new Error(`go build ${name} failed: ${err.message}\n${err.stderr ?? ''}`);
    });
  await Promise.all([build('go-client'), build('go-server')]);
  return { dir, client: join(dir, 'go-client'), server: join(dir, 'go-server') };
}

/** Reads a child's stdout as JSON lines, one awaited at a time. */
function jsonLines(child: ChildProcessWithoutNullStreams, what: string) {
  const waiting: { resolve: (value: any) => void; reject: (err: Error) => void }[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.resolve(JSON.parse(line)));
  child.once('exit', (code) => {
    for (const w of waiting.splice(0))
      w.reject(new Error(`${what} exited with code ${code} before answering:\n${stderr}`));
  });
  return () => new Promise<any>((resolve, reject) => waiting.push({ resolve, reject }));
}

/** A running Go gRPC server. */
export interface GoServer {
  readonly port: number;
  readonly addr: string;
  /** Stops it (closes its stdin) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `go-server` on a free loopback port. */
export async function startGoServer(
  programs: GoPrograms,
  options: { readonly ipv6?: boolean } = {},
): Promise<GoServer> {
  const child = spawn(programs.server, options.ipv6 ? ['-host', '::1'] : [], { stdio: 'pipe' });
  const { port } = (await jsonLines(child, 'go-server')()) as { port: number };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    addr: options.ipv6 ? `[::1]:${port}` : `127.0.0.1:${port}`,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/** What one `call N` of the Go client saw. */
export interface GoBatch {
  readonly calls: number;
  /** Calls answered, by the server address grpc-go's peer reports. */
  readonly peers: Record<string, number>;
  readonly errors: string[];
}

/** A running Go client. */
export interface GoClient {
  /** Makes `n` sequential Health/Check calls. */
  call(n: number): Promise<GoBatch>;
  /** Makes sequential Health/Check calls for `ms` milliseconds. */
  run(ms: number): Promise<GoBatch>;
  close(): Promise<void>;
}

/** Starts `go-client` resolving `target` through etcd at `etcdEndpoint`. */
export function startGoClient(
  programs: GoPrograms,
  etcdEndpoint: string,
  target: string,
  options: { authority?: string } = {},
): GoClient {
  const args = [
    '-etcd',
    etcdEndpoint,
    '-target',
    target,
    ...(options.authority ? ['-authority', options.authority] : []),
  ];
  const child = spawn(programs.client, args, { stdio: 'pipe' });
  const next = jsonLines(child, 'go-client');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const command = (line: string) => {
    const answer = next();
    child.stdin.write(`${line}\n`);
    return answer as Promise<GoBatch>;
  };
  return {
    call: (n) => command(`call ${n}`),
    run: (ms) => command(`run ${ms}`),
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
