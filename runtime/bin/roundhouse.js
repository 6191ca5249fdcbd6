#!/usr/bin/env node
// Entry of the `roundhouse` command: runs the TypeScript sources through tsx's loader.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli/main.ts');
await run(process.argv.slice(2));
