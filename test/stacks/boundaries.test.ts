import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What stacks/ and policies/ may import (the tables in stacks/README.md and policies/README.md). */
const RULES: Record<string, { folders: string[]; packages: string[] }> = {
  stacks: {
    folders: ['stacks', 'policies'],
    packages: ['@pulumi/pulumi', '@pulumi/aws', '@pulumi/gcp', '@pulumi/kubernetes', '@pulumi/tls'],
  },
  policies: { folders: ['policies'], packages: ['@pulumi/policy', '@pulumi/pulumi'] },
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function violations(folder: string): string[] {
  const rule = RULES[folder];
  const out: string[] = [];
  for (const file of files(join(ROOT, folder))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)) {
      const spec = m[1] ?? m[2];
      const where = relative(ROOT, file);
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const to = relative(ROOT, resolve(dirname(file), spec)).split('/')[0];
        if (!rule.folders.includes(to)) out.push(`${where} imports ${spec} (${folder} may not import ${to}/)`);
      } else {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!rule.packages.includes(pkg)) out.push(`${where} imports package ${pkg}, not allowed in ${folder}/`);
      }
    }
  }
  return out;
}

test('stacks/ imports only itself, policies/ and the Pulumi SDKs; never runtime/', (t) => {
  t.deepEqual(violations('stacks'), []);
});

test('policies/ imports only itself and @pulumi/policy; never runtime/ or stacks/', (t) => {
  t.deepEqual(violations('policies'), []);
});
