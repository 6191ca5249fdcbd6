/** A small client for the Roundhouse HTTP API, used by the CLI (`--host`, `--token`). */
export class ApiClient {
  constructor(
    readonly host: string,
    readonly token: string | undefined,
  ) {}

  /** The response body as text (e.g. CSV). */
  async requestText(method: string, path: string): Promise<string> {
    return this.#send(method, path, undefined, true) as Promise<string>;
  }

  async request<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    return this.#send(method, path, body, false) as Promise<T>;
  }

  async #send(method: string, path: string, body: unknown, asText: boolean): Promise<unknown> {
    const url = new URL(path, this.host.endsWith('/') ? this.host : `${this.host}/`);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          ...(this.token ? { 'circle-token': this.token } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          accept: 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new CliError(
        `cannot reach ${this.host}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`,
      );
    }
    const text = await res.text();
    if (asText && res.ok) return text;
    let json: any;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { message: text };
    }
    if (!res.ok) throw new CliError(`${method} ${url.pathname} failed (HTTP ${res.status}): ${json.message ?? text}`);
    return json;
  }
}

export class CliError extends Error {}
