/**
 * `npm run bench`: builds the bundles, then runs each figure in a process of its own (each starts
 * its own local etcd and ECS endpoint, and loads the bundles afresh) and prints one JSON line per
 * figure, each next to its floor measured in the same run. `npm run bench -- renew` runs one figure
 * (`scale`, renew at 100,000 tasks under the ECS read budget, takes several minutes).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFunctions } from '../scripts/build.mjs';
import { benchBurst } from './burst';
import { benchColdStart } from './cold-start';
import { benchRegister } from './register';
import { benchRenew } from './renew';
import { benchScale } from './scale';
import { distDir } from './support';

/** Runs a benchmark script that prints its own JSON lines (bench/follow.ts) and collects them. */
function linesOf(script: string): unknown[] {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as unknown);
}

const FIGURES: Record<string, () => Promise<unknown>> = {
  register: () => benchRegister(),
  follow: async () => linesOf('follow.ts'),
  renew: () => benchRenew(),
  burst: () => benchBurst(),
  'cold-start': () => benchColdStart(),
  scale: () => benchScale(),
};

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

const sizes = await buildFunctions(distDir);
writeFileSync(join(distDir, 'sizes.json'), JSON.stringify(sizes));
// `scale` takes minutes: it runs only when asked for by name.
for (const name of first ? [first] : Object.keys(FIGURES).filter((figure) => figure !== 'scale')) {
  const child = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--figure', name], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (child.status !== 0) {
    console.error(`bench: figure ${name} failed`);
    process.exit(1);
  }
}
