#!/usr/bin/env -S node --max-semi-space-size=2
// (A 2 MiB young generation: the server's allocations are small and short-lived, and it saves ~10 MiB
// of idle memory. `npm start` passes the same flag.)
// Entry of the `roundhouse` command. Runs the compiled runtime (runtime/dist, built by `npm install`
// through the `prepare` script) when it is at least as new as every source file; otherwise the
// TypeScript sources through tsx, so an edited checkout never runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = `${root}dist/.built`;

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const compiled =
  process.env.ROUNDHOUSE_FROM_SOURCE !== '1' &&
  existsSync(stamp) &&
  statSync(stamp).mtimeMs >= newestSource(`${root}src`);
let run;
if (compiled) {
  ({ run } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ run } = await import('../src/cli/main.ts'));
}
await run(process.argv.slice(2));
