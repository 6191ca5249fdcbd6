import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { parse } from 'yaml';
import { compileConfig } from '../../runtime/src/config/compile.js';
import { formatConfigError } from '../../runtime/src/config/types.js';
import { BundleOrbSource } from '../../runtime/src/orbs/bundle.js';

const CONFORMANCE = fileURLToPath(new URL('../../../shared/conformance/', import.meta.url));
const present = existsSync(join(CONFORMANCE, 'configs')) && existsSync(join(CONFORMANCE, 'orbs', 'INDEX.tsv'));
if (!present)
  console.log(
    `SKIP conformance tests: ${CONFORMANCE} is not here (it is in CI and beside the repository in a session)`,
  );

const files = present ? readdirSync(join(CONFORMANCE, 'configs')).filter((f) => f.endsWith('.yml')) : [];
const orbs = present ? new BundleOrbSource(join(CONFORMANCE, 'orbs')) : undefined;
const PARAM_LEFT = /<<\s*(parameters|pipeline|matrix)\.[\w.-]+\s*>>/;

(present ? test : test.skip)('the conformance corpus is all there', (t) => {
  t.true(files.length >= 29, `${files.length} configs`);
});

for (const file of files) {
  test(`conformance: ${file} compiles, or names exactly the orbs the bundle lacks`, async (t) => {
    const text = readFileSync(join(CONFORMANCE, 'configs', file), 'utf8');
    const r = await compileConfig(text, { branch: 'main', orbs });
    const declared = Object.values(
      (parse(text, { maxAliasCount: -1, merge: true, uniqueKeys: false }) as { orbs?: Record<string, unknown> }).orbs ??
        {},
    ).filter((v): v is string => typeof v === 'string');
    const unresolvable: string[] = [];
    for (const ref of declared) if (!(await orbs!.resolve(ref))) unresolvable.push(ref);
    if (!r.ok) {
      const messages = r.errors.map(formatConfigError);
      t.deepEqual(
        r.errors.filter((e) => e.code !== 'RH_CONFIG_ORB_NOT_FOUND').map(formatConfigError),
        [],
        `only missing orbs may fail a conformance config:\n${messages.join('\n')}`,
      );
      const named = r.errors.map((e) => /orb (\S+@\S+) not found/.exec(e.message)?.[1]).filter(Boolean);
      t.deepEqual([...new Set(named)].sort(), [...new Set(unresolvable)].sort());
      return;
    }
    t.deepEqual(unresolvable, [], 'every declared orb resolved');
    const compiled = parse(r.compiled);
    t.is(compiled.version, 2);
    t.false('orbs' in compiled || 'commands' in compiled || 'executors' in compiled || 'parameters' in compiled);
    t.false(PARAM_LEFT.test(r.compiled), 'no << parameters/pipeline/matrix >> left');
    for (const wf of r.plan.workflows) {
      const names = new Set(wf.jobs.map((j) => j.name));
      t.is(names.size, wf.jobs.length, `job names are unique in ${wf.name}`);
      for (const j of wf.jobs) {
        for (const req of j.requires) t.true(names.has(req), `${wf.name}: ${j.name} requires ${req}`);
        if (j.type === 'build') t.truthy(r.plan.jobs[j.job], `${j.job} has a definition`);
      }
    }
    for (const [name, job] of Object.entries(r.plan.jobs)) {
      t.true(job.steps.length > 0, `${name} has steps`);
      t.true(['docker', 'machine', 'macos'].includes(job.executor.type));
    }
  });
}
