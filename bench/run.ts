/**
 * `npm run bench`: builds the bundles, then runs each figure in a process of its own (each starts
 * its own local etcd and ECS endpoint, and loads the bundles afresh) and prints one JSON line per
 * figure, each next to its floor measured in the same run. `npm run bench -- renew` runs one figure
 * (`scale`, renew at 100,000 tasks under the ECS read budget, takes several minutes).
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFunctions } from '../scripts/build.mjs';
import { benchBurst } from './burst';
import { benchColdStart } from './cold-start';
import { benchDeclaredPorts } from './declared-ports';
import { benchHealth } from './health';
import { benchMemberFailure } from './member-failure';
import { benchOrphanSweep } from './orphan-sweep';
import { benchRegister } from './register';
import { benchRenew } from './renew';
import { benchScale } from './scale';
import { distDir } from './support';

/** Runs a benchmark script that prints its own JSON lines (bench/follow.ts) and collects them. */
function linesOf(script: string): unknown[] {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as unknown);
}

const FIGURES: Record<string, () => Promise<unknown>> = {
  register: () => benchRegister(),
  follow: async () => linesOf('follow.ts'),
  'etcd-restart': async () => linesOf('etcd-restart.ts'),
  renew: () => benchRenew(),
  burst: () => benchBurst(),
  'cold-start': () => benchColdStart(),
  health: () => benchHealth(),
  members: () => benchMemberFailure(),
  sweep: () => benchOrphanSweep(),
  'declared-ports': () => benchDeclaredPorts(),
  scale: () => benchScale(),
  xds: async () => linesOf('xds.ts'),
};

// Figures print results, not metric lines: every figure process (and its children) inherits this.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const [first, second] = process.argv.slice(2);
if (first === '--figure') {
  const result = await FIGURES[second!]!();
  for (const line of Array.isArray(result) ? result : [result]) console.log(JSON.stringify(line));
  process.exit(0);
}
if (first && !FIGURES[first]) {
  console.error(`usage: npm run bench [-- ${Object.keys(FIGURES).join('|')}]`);
  process.exit(2);
}

/**
 * How long each figure usually takes (seconds, measured with `npm run bench` on a 2-vCPU machine
 * shared with other work): the progress lines say what to expect. renew registers up to 50,000 tasks
 * in etcd and ticks at 1,000, 10,000 and 50,000 of them: it takes longest.
 */
const EXPECTED_SECONDS: Record<string, number> = {
  register: 40,
  follow: 40,
  renew: 300,
  burst: 35,
  'cold-start': 25,
  'etcd-restart': 60,
  health: 120,
  members: 60,
  sweep: 90,
  scale: 1500,
  xds: 60,
};
/** How often a running figure says it is still running. */
const TICK_MS = 15_000;

/** Progress goes to stderr: stdout carries only the figures' JSON lines. */
const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

// `scale` takes many minutes: it runs only when asked for by name.
const names = first ? [first] : Object.keys(FIGURES).filter((figure) => figure !== 'scale');
const expectedTotal = names.reduce((sum, name) => sum + EXPECTED_SECONDS[name]!, 0);
progress(`building the bundles, then ${names.length} figure(s): about ${expectedTotal} s in all`);
const sizes = await buildFunctions(distDir);
writeFileSync(join(distDir, 'sizes.json'), JSON.stringify(sizes));
const benchStarted = Date.now();
for (const [i, name] of names.entries()) {
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 1000);
  progress(`[${i + 1}/${names.length}] ${name}: about ${EXPECTED_SECONDS[name]} s`);
  const ticker = setInterval(() => progress(`  ${name}: ${seconds()} s of about ${EXPECTED_SECONDS[name]} s`), TICK_MS);
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--figure', name], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(ticker);
  if (status !== 0) {
    progress(`figure ${name} failed`);
    process.exit(1);
  }
  progress(`  ${name} done in ${seconds()} s`);
}
progress(`all done in ${Math.round((Date.now() - benchStarted) / 1000)} s`);
