import { compileConfig } from '../../runtime/src/config/compile.js';
import { formatConfigError, type PipelineContext } from '../../runtime/src/config/types.js';

/** Compiles a config that must be valid; throws every error otherwise. */
export async function ok(text: string, ctx: PipelineContext = {}) {
  const r = await compileConfig(text, ctx);
  if (!r.ok) throw new Error(r.errors.map(formatConfigError).join('\n'));
  return r;
}

/** Compiles a config that must be invalid; returns its errors as `circleci config validate` lines. */
export async function errors(text: string, ctx: PipelineContext = {}) {
  const r = await compileConfig(text, ctx);
  if (r.ok) throw new Error('expected errors');
  return r.errors.map(formatConfigError);
}
