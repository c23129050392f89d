/**
 * `npm run bench`: starts its own local etcd and ECS endpoint and prints one JSON line per figure,
 * each next to its floor measured in the same run. `npm run bench <figure>` runs one.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { buildFunctions } from '../scripts/build.mjs';
import { benchRegister } from './register';

/** Runs a benchmark script in its own process (the handlers read their config once per process). */
function inOwnProcess(script: string): unknown[] {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as unknown);
}

const only = process.argv[2];
const figures: [string, () => Promise<unknown>][] = [
  ['register', () => benchRegister()],
  ['follow', async () => inOwnProcess('follow.ts')],
  [
    'bundles',
    async () => {
      const sizes = await buildFunctions('dist');
      return Object.entries(sizes).map(([name, s]) => ({ figure: 'bundle_size', function: name, loaded_at_start_kb: +(s.loadedBytes / 1024).toFixed(1), shipped_kb: +(s.totalBytes / 1024).toFixed(1) }));
    },
  ],
];

for (const [name, run] of figures) {
  if (only && only !== name) continue;
  const result = await run();
  for (const line of Array.isArray(result) ? result : [result]) console.log(JSON.stringify(line));
}
process.exit(0);
