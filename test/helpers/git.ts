import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 't@example.invalid',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 't@example.invalid',
};

export const git = (dir: string, ...args: string[]) =>
  execFileSync('git', args, { cwd: dir, env: ENV, encoding: 'utf8' }).trim();

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A real git repository with the given files committed on `main`; removed when the test process exits. */
export function makeRepo(files: Record<string, string>, message = 'initial commit'): string {
  const dir = mkdtempSync(join(tmpdir(), 'rh-repo-'));
  made.push(dir);
  git(dir, 'init', '--quiet', '--initial-branch=main');
  commit(dir, files, message);
  return dir;
}

export function commit(dir: string, files: Record<string, string>, message: string): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '--quiet', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

export const configRepo = (config: string, extra: Record<string, string> = {}) =>
  makeRepo({ '.circleci/config.yml': config, ...extra });
