import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { promisify } from 'node:util';
import { RoundhouseError } from '../shared/errors.js';

const exec = promisify(execFile);

export const isUrl = (repo: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/\s]+@[^:\s]+:/.test(repo);

/** Normalises a repository given as a path into an absolute path; URLs stay as they are. */
export const normaliseRepo = (repo: string) => (isUrl(repo) ? repo : isAbsolute(repo) ? repo : resolve(repo));

async function git(args: string[], cwd?: string): Promise<string> {
  const { stdout } = await exec('git', args, {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
  });
  return stdout;
}

export interface Revision {
  readonly revision: string;
  readonly subject: string;
  readonly body: string;
}

/**
 * Reads a project's repository on the server side: for a local path directly, for a URL through a
 * bare mirror kept under the data dir and fetched before each read.
 */
export class Repository {
  readonly #gitDir: string;
  readonly #remote: boolean;
  #fetched: Promise<void> | undefined;

  constructor(
    readonly url: string,
    mirrorDir: string,
  ) {
    this.#remote = isUrl(url);
    this.#gitDir = this.#remote ? mirrorDir : url;
  }

  /** Fetches a remote into the mirror (once per call site; concurrent callers share one fetch). */
  async refresh(): Promise<void> {
    if (!this.#remote) return;
    this.#fetched ??= (async () => {
      try {
        if (!existsSync(this.#gitDir)) {
          mkdirSync(dirname(this.#gitDir), { recursive: true });
          await git(['clone', '--quiet', '--mirror', this.url, this.#gitDir]);
        } else await git(['--git-dir', this.#gitDir, 'remote', 'update', '--prune']);
      } finally {
        this.#fetched = undefined;
      }
    })();
    return this.#fetched;
  }

  #git(args: string[]) {
    return this.#remote ? git(['--git-dir', this.#gitDir, ...args]) : git(['-C', this.#gitDir, ...args]);
  }

  /** Checks the repository can be read; returns its default branch. */
  async probe(): Promise<string> {
    try {
      await this.refresh();
      await this.#git(['rev-parse', '--git-dir']);
      const head = (await this.#git(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => 'main\n')).trim();
      return head || 'main';
    } catch (e) {
      throw new RoundhouseError('RH_REPO_UNREADABLE', this.url, firstLine(e));
    }
  }

  async resolve(ref: { branch?: string; tag?: string }): Promise<Revision> {
    try {
      await this.refresh();
    } catch (e) {
      throw new RoundhouseError('RH_REPO_UNREADABLE', this.url, firstLine(e));
    }
    const full = ref.tag !== undefined ? `refs/tags/${ref.tag}` : `refs/heads/${ref.branch}`;
    let revision: string;
    try {
      revision = (await this.#git(['rev-parse', '--verify', '--quiet', `${full}^{commit}`])).trim();
    } catch {
      throw new RoundhouseError('RH_REF_NOT_FOUND', ref.tag ?? ref.branch ?? '', this.url);
    }
    const log = await this.#git(['log', '-1', '--format=%s%x00%b', revision]);
    const [subject, body = ''] = log.split('\0');
    return { revision, subject: subject.trim(), body: body.trim() };
  }

  /** A file at a revision, or undefined when it does not exist there. */
  async readFile(revision: string, path: string): Promise<string | undefined> {
    try {
      return await this.#git(['show', `${revision}:${path}`]);
    } catch {
      return undefined;
    }
  }
}

function firstLine(e: unknown): string {
  const err = e as { stderr?: string; message?: string };
  return (err.stderr || err.message || String(e)).trim().split('\n').pop() ?? '';
}
