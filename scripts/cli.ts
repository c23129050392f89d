#!/usr/bin/env node
/**
 * Entry point of the operator CLI (`ecs-etcd-registrar`, `npm run cli -- <command>`): runs
 * `lib/cli/main.ts` on this process's arguments and environment. Built into
 * `dist/cli/ecs-etcd-registrar.mjs` by `scripts/build-cli.mjs` for the installed package.
 */
import { runCli } from '../lib/cli/main';

const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: write(process.stdout),
  stderr: write(process.stderr),
});
