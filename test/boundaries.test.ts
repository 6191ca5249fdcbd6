import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const SRC = fileURLToPath(new URL('../runtime/src/', import.meta.url));

/**
 * Which folder of runtime/src may import which (the table in runtime/README.md), and which npm
 * packages each may use. `*` is the composition root.
 */
const MAY_IMPORT: Record<string, { folders: string[]; packages: string[] }> = {
  config: { folders: [], packages: ['yaml', 're2-wasm', 'safe-regex2'] },
  shared: { folders: [], packages: [] },
  protocol: { folders: ['config'], packages: [] },
  store: { folders: ['shared'], packages: ['better-sqlite3', 'pg'] },
  vcs: { folders: ['shared'], packages: [] },
  orbs: { folders: ['config', 'shared'], packages: ['yaml'] },
  objects: { folders: [], packages: ['@aws-sdk/client-s3'] },
  secrets: { folders: [], packages: ['@aws-sdk/client-kms', '@google-cloud/kms'] },
  identity: { folders: ['store', 'secrets', 'shared'], packages: ['@octokit/oauth-methods', '@octokit/rest'] },
  audit: { folders: ['store', 'objects', 'shared'], packages: [] },
  conductor: { folders: ['config', 'store', 'vcs', 'shared'], packages: [] },
  dispatcher: { folders: ['conductor', 'protocol', 'store', 'shared'], packages: [] },
  output: { folders: ['protocol', 'store', 'shared', 'objects'], packages: ['fast-xml-parser'] },
  executor: { folders: ['config', 'protocol'], packages: ['dockerode', '@aws-sdk/client-ecr'] },
  api: {
    folders: [
      'conductor',
      'dispatcher',
      'output',
      'protocol',
      'store',
      'vcs',
      'shared',
      'config',
      'orbs',
      'objects',
      'secrets',
      'identity',
      'audit',
    ],
    packages: ['fastify', 'yaml', '@fastify/cookie', '@octokit/webhooks', 'ssh2'],
  },
  cli: { folders: ['*'], packages: ['tsx'] },
  '.': { folders: ['*'], packages: [] },
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const folderOf = (file: string) => {
  const rel = relative(SRC, file).split('/');
  return rel.length === 1 ? '.' : rel[0];
};

function violationsOf(sources: { file: string; text: string }[]): string[] {
  const violations: string[] = [];
  for (const { file, text } of sources) {
    const from = folderOf(file);
    const rule = MAY_IMPORT[from];
    if (!rule) {
      violations.push(`${relative(SRC, file)}: folder ${from} has no row in the boundary table`);
      continue;
    }
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const to = folderOf(resolve(dirname(file), spec));
        if (to === from || rule.folders.includes('*') || rule.folders.includes(to)) continue;
        violations.push(`${relative(SRC, file)} imports ${spec} (${from} may not import ${to})`);
      } else {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!rule.packages.includes(pkg) && !rule.folders.includes('*'))
          violations.push(`${relative(SRC, file)} imports package ${pkg}, not allowed in ${from}`);
      }
    }
  }
  return violations;
}

test('every import in runtime/src respects the boundary table', (t) => {
  t.deepEqual(violationsOf(files(SRC).map((file) => ({ file, text: readFileSync(file, 'utf8') }))), []);
});

test('the boundary check flags forbidden imports and unknown folders', (t) => {
  t.deepEqual(
    violationsOf([
      {
        file: join(SRC, 'executor/x.ts'),
        text: "import { buildApp } from '../api/app.js';\nimport Database from 'better-sqlite3';",
      },
      { file: join(SRC, 'config/y.ts'), text: "const s = await import('../store/store.js');" },
      { file: join(SRC, 'newthing/z.ts'), text: '' },
    ]),
    [
      'executor/x.ts imports ../api/app.js (executor may not import api)',
      'executor/x.ts imports package better-sqlite3, not allowed in executor',
      'config/y.ts imports ../store/store.js (config may not import store)',
      'newthing/z.ts: folder newthing has no row in the boundary table',
    ],
  );
});
