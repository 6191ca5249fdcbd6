import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { constants, copyFile, readFile, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ClaimedJob } from '../protocol/executor.js';
import { EXECUTOR_API, LOCAL_COPY_TYPE } from '../protocol/executor.js';

/** The executor's side of the blob protocol (caches and workspaces), with the job's token. */
export class BlobClient {
  constructor(
    readonly server: string,
    readonly jobId: string,
    readonly token: string,
    /** The parallel node whose artifacts, test results and workspace layer these are. */
    readonly node = 0,
    /** This executor shares the server's filesystem (embedded): archives are copied, not streamed. */
    readonly localCopy = false,
  ) {}

  #url(path: string) {
    return `${this.server}${EXECUTOR_API}/jobs/${this.jobId}/${path}`;
  }
  #headers(extra: Record<string, string> = {}) {
    return { authorization: `Bearer ${this.token}`, ...extra };
  }

  #upload(path: string, file: string): Promise<{ saved: boolean }> {
    return this.#uploadTo(this.#url(path), file);
  }

  async #uploadTo(url: string, file: string): Promise<{ saved: boolean }> {
    const res = await fetch(url, {
      method: 'PUT',
      headers: this.#headers({
        'content-type': 'application/octet-stream',
        'content-length': String((await stat(file)).size),
      }),
      body: Readable.toWeb(createReadStream(file)) as unknown as BodyInit,
      duplex: 'half',
    } as RequestInit);
    if (!res.ok) throw new Error(`upload answered HTTP ${res.status}`);
    return (await res.json()) as { saved: boolean };
  }

  /** Node's own HTTP client here, not fetch: archives are large, and web streams cost several times more CPU. */
  async #download(path: string, file: string): Promise<boolean> {
    const url = new URL(this.#url(path));
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const headers = this.#headers(this.localCopy ? { 'x-roundhouse-local-copy': '1' } : {});
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { headers }, resolve);
      req.on('error', reject);
      req.end();
    });
    if (res.statusCode === 404) {
      res.resume();
      return false;
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw new Error(`download answered HTTP ${res.statusCode}`);
    }
    if (String(res.headers['content-type']).startsWith(LOCAL_COPY_TYPE)) {
      let body = '';
      for await (const c of res) body += c;
      // A copy (a reflink where the filesystem can): the job may change its file, never the stored object.
      await copyFile((JSON.parse(body) as { path: string }).path, file, constants.COPYFILE_FICLONE);
      return true;
    }
    await pipeline(res, createWriteStream(file, { highWaterMark: 1 << 20 }));
    return true;
  }

  putArtifact(path: string, file: string) {
    return this.#uploadTo(
      `${this.server}/api/internal/executor/jobs/${this.jobId}/artifacts?path=${encodeURIComponent(path)}&node=${this.node}`,
      file,
    );
  }
  async putTests(reports: { file: string; xml: string }[]): Promise<{ tests: number; problems: string[] }> {
    const res = await fetch(this.#url(`tests?node=${this.node}`), {
      method: 'POST',
      headers: this.#headers({ 'content-type': 'application/json' }),
      body: JSON.stringify(reports),
    });
    if (!res.ok) throw new Error(`test results answered HTTP ${res.status}`);
    return (await res.json()) as { tests: number; problems: string[] };
  }

  saveCache(key: string, file: string) {
    return this.#upload(`cache/${encodeURIComponent(key)}`, file);
  }
  async lookupCache(keys: string[]): Promise<{ key: string; size: number } | undefined> {
    const res = await fetch(this.#url('cache/lookup'), {
      method: 'POST',
      headers: this.#headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ keys }),
    });
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`cache lookup answered HTTP ${res.status}`);
    return (await res.json()) as { key: string; size: number };
  }
  getCache(key: string, file: string) {
    return this.#download(`cache/${encodeURIComponent(key)}`, file);
  }
  putWorkspace(file: string) {
    return this.#upload(`workspace?node=${this.node}`, file);
  }
  async workspaceLayers(): Promise<string[]> {
    const res = await fetch(this.#url('workspace'), { headers: this.#headers() });
    if (!res.ok) throw new Error(`workspace answered HTTP ${res.status}`);
    return ((await res.json()) as { layers: string[] }).layers;
  }
  getLayer(ref: string, file: string) {
    return this.#download(`workspace/${ref}`, file);
  }
}

/**
 * Renders a cache key template as CircleCI does at step time: {{ checksum "file" }} (base64 SHA-256
 * of the file), {{ .Branch }}, {{ .Revision }}, {{ .BuildNum }}, {{ .Environment.NAME }},
 * {{ epoch }}, {{ arch }}. `file` maps a path of the job to the file on the executor's host.
 */
export async function renderCacheKey(
  template: string,
  job: ClaimedJob,
  env: Record<string, string>,
  /** A host path holding the job's file (copied out where needed), or undefined when it is missing. */
  file: (p: string) => Promise<string | undefined>,
): Promise<string> {
  const parts = template.split(/(\{\{.*?\}\})/);
  let out = '';
  for (const part of parts) {
    const m = /^\{\{\s*(.*?)\s*\}\}$/.exec(part);
    if (!m) {
      out += part;
      continue;
    }
    const expr = m[1];
    const checksum = /^checksum\s+"([^"]+)"$/.exec(expr);
    if (checksum) {
      try {
        const host = await file(checksum[1]);
        if (host)
          out += createHash('sha256')
            .update(await readFile(host))
            .digest('base64');
      } catch {
        out += '';
      }
    } else if (expr === '.Branch') out += job.pipeline.branch ?? '';
    else if (expr === '.Revision') out += job.pipeline.revision;
    else if (expr === '.BuildNum') out += String(job.number);
    else if (expr === 'epoch') out += String(Math.floor(Date.now() / 1000));
    else if (expr === 'arch') out += `arch1-linux-${process.arch === 'x64' ? 'amd64' : process.arch}`;
    else if (expr.startsWith('.Environment.')) out += env[expr.slice('.Environment.'.length)] ?? '';
    else out += part;
  }
  return out;
}
