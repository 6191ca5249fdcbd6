import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { compileConfig } from '../../runtime/src/config/compile.js';
import { BundleOrbSource } from '../../runtime/src/orbs/bundle.js';

const CONFORMANCE = fileURLToPath(new URL('../../../shared/conformance/', import.meta.url));

/**
 * Compile throughput over the conformance corpus: every config compiled (orbs from the bundle,
 * packed once and cached, as a registry would serve them), beside parsing the same files as YAML.
 */
export async function compileCorpus(
  rounds = 5,
): Promise<{ files: number; compileMs: number; parseMs: number } | undefined> {
  if (!existsSync(join(CONFORMANCE, 'configs'))) return undefined;
  const dir = join(CONFORMANCE, 'configs');
  const texts = readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => readFileSync(join(dir, f), 'utf8'));
  const orbs = new BundleOrbSource(join(CONFORMANCE, 'orbs'));
  for (const t of texts) await compileConfig(t, { branch: 'main', orbs }); // warm: pack orbs, JIT
  let compileMs = Number.POSITIVE_INFINITY;
  let parseMs = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now();
    for (const t of texts) await compileConfig(t, { branch: 'main', orbs });
    compileMs = Math.min(compileMs, performance.now() - t0);
    t0 = performance.now();
    for (const t of texts) parse(t, { merge: true, uniqueKeys: false, maxAliasCount: -1 });
    parseMs = Math.min(parseMs, performance.now() - t0);
  }
  return { files: texts.length, compileMs, parseMs };
}
