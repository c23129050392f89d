/**
 * Cold start: what each function's bundle loads at start (entry + statically imported chunks; the
 * EC2 client is a lazily loaded chunk, only for bridge and host tasks), by package, and the time
 * plain Node takes to import it minus an empty `node -e 0`, runs interleaved, medians. A naive
 * bundle of etcd3 and the ECS client (esbuild's defaults, etcd3's protos inlined for the real
 * @grpc/proto-loader) is measured the same way, in the same run, for scale.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import protobuf from 'protobufjs';
import { distDir, type Json, median, root, round } from './support';

const require = createRequire(import.meta.url);
const GOAL_KB: Record<string, number> = { register: 600, renew: 600, deregister: 450 };

/** etcd3's protos inlined for the real proto-loader, as a bundle without this project's build would need. */
const naiveProtos = (): Plugin => ({
  name: 'naive-inline-protos',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => {
      const rpc = new protobuf.Root();
      rpc.loadSync(join(dirname(require.resolve('etcd3/package.json')), 'proto', 'rpc.proto'), { keepCase: true });
      const source = readFileSync(args.path, 'utf8').replace(
        /\(0, proto_loader_1\.loadSync\)\(`[^`]*`,/,
        `(0, proto_loader_1.fromJSON)(${JSON.stringify(rpc.toJSON())},`,
      );
      return { contents: source, loader: 'js', resolveDir: dirname(args.path) };
    });
  },
});

async function buildNaive(): Promise<{ file: string; bytes: number }> {
  const outdir = join(distDir, 'naive');
  mkdirSync(outdir, { recursive: true });
  const { metafile } = await build({
    stdin: {
      contents: "export { Etcd3 } from 'etcd3'; export { ECSClient } from '@aws-sdk/client-ecs';",
      resolveDir: root,
      loader: 'js',
    },
    outfile: join(outdir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    plugins: [naiveProtos()],
    metafile: true,
    logLevel: 'error',
  });
  return { file: join(outdir, 'index.mjs'), bytes: Object.values(metafile.outputs)[0]!.bytes };
}

/** Wall and CPU milliseconds of `node` running `code` (CPU as the process itself reports it at the end). */
function run(code: string, esm: boolean): { wall: number; cpu: number } {
  const probe = 'const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1000));';
  const started = process.hrtime.bigint();
  const child = spawnSync(process.execPath, [...(esm ? ['--input-type=module'] : []), '-e', `${code}${probe}`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
  const wall = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.status !== 0) throw new Error(`node failed: ${child.stderr}`);
  return { wall, cpu: Number(child.stdout) };
}

export async function benchColdStart(runs = 21): Promise<Json[]> {
  const sizes = JSON.parse(readFileSync(join(distDir, 'sizes.json'), 'utf8')) as Record<
    string,
    { loadedBytes: number; totalBytes: number; loadedPackages: Record<string, number> }
  >;
  const naive = await buildNaive();
  const bundles: Record<string, string> = {
    ...Object.fromEntries(Object.keys(sizes).map((name) => [name, join(distDir, name, 'index.mjs')])),
    naive: naive.file,
  };
  const times: Record<string, { wall: number; cpu: number }[]> = {
    empty: [],
    ...Object.fromEntries(Object.keys(bundles).map((name) => [name, []])),
  };
  for (let i = 0; i < runs; i++) {
    times.empty!.push(run('', false));
    for (const [name, file] of Object.entries(bundles))
      times[name]!.push(run(`await import(${JSON.stringify(pathToFileURL(file).href)});`, true));
  }
  const over = (name: string, key: 'wall' | 'cpu') =>
    round(median(times[name]!.map((t) => t[key])) - median(times.empty!.map((t) => t[key])), 1);
  const kb = (bytes: number) => round(bytes / 1024, 1);
  const lines: Json[] = Object.entries(sizes).map(([name, s]) => ({
    figure: 'cold_start',
    function: name,
    loaded_at_start_kb: kb(s.loadedBytes),
    shipped_kb: kb(s.totalBytes),
    goal_kb: GOAL_KB[name],
    load_ms_over_empty: over(name, 'wall'),
    load_cpu_ms_over_empty: over(name, 'cpu'),
    goal_load_ms: 50,
    top_packages_kb: Object.fromEntries(
      Object.entries(s.loadedPackages)
        .slice(0, 10)
        .map(([p, b]) => [p, kb(b)]),
    ),
  }));
  lines.push({
    figure: 'cold_start',
    function: 'naive etcd3 + client-ecs (reference)',
    loaded_at_start_kb: kb(naive.bytes),
    load_ms_over_empty: over('naive', 'wall'),
    load_cpu_ms_over_empty: over('naive', 'cpu'),
    empty_node_ms: round(median(times.empty!.map((t) => t.wall)), 1),
    runs,
  });
  return lines;
}
