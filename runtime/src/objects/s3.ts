import type { Readable } from 'node:stream';
import type { ObjectInfo, ObjectStore } from './store.js';

export interface S3Options {
  readonly bucket: string;
  readonly region: string;
  /** For S3-compatible stores (MinIO, s3rver); path-style addressing is used with an endpoint. */
  readonly endpoint?: string;
  readonly prefix?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Objects in an S3 bucket (or an S3-compatible store), through the AWS SDK. */
export class S3ObjectStore implements ObjectStore {
  readonly #client: Promise<import('@aws-sdk/client-s3').S3Client>;
  readonly #sdk = import('@aws-sdk/client-s3');

  constructor(readonly opts: S3Options) {
    this.#client = this.#sdk.then(
      ({ S3Client }) =>
        new S3Client({
          region: opts.region,
          ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
          ...(opts.credentials ? { credentials: opts.credentials } : {}),
          // Streamed uploads must not use aws-chunked encoding: S3-compatible stores reject or corrupt it.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }),
    );
  }

  #key(key: string) {
    return `${this.opts.prefix ?? ''}${key}`;
  }

  async put(key: string, body: Readable, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    if (opts.ifAbsent && (await this.head(key))) {
      body.resume();
      return false;
    }
    // The whole object is buffered: S3 needs a length, and caches and layers are bounded by the executor.
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c));
    const { PutObjectCommand } = await this.#sdk;
    await (await this.#client).send(
      new PutObjectCommand({ Bucket: this.opts.bucket, Key: this.#key(key), Body: Buffer.concat(chunks) }),
    );
    return true;
  }

  async get(key: string): Promise<Readable | undefined> {
    const { GetObjectCommand } = await this.#sdk;
    try {
      const r = await (await this.#client).send(
        new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.#key(key) }),
      );
      return r.Body as Readable;
    } catch (e) {
      if (
        (e as { name?: string }).name === 'NoSuchKey' ||
        (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      )
        return undefined;
      throw e;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const { HeadObjectCommand } = await this.#sdk;
    try {
      const r = await (await this.#client).send(
        new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.#key(key) }),
      );
      return { key, size: Number(r.ContentLength ?? 0), modified: r.LastModified?.getTime() ?? 0 };
    } catch (e) {
      if (
        (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404 ||
        (e as { name?: string }).name === 'NotFound'
      )
        return undefined;
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    const { DeleteObjectCommand } = await this.#sdk;
    await (await this.#client).send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.#key(key) }));
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const { ListObjectsV2Command } = await this.#sdk;
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const r = await (await this.#client).send(
        new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: this.#key(prefix), ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) {
        out.push({
          key: (o.Key ?? '').slice((this.opts.prefix ?? '').length),
          size: Number(o.Size ?? 0),
          modified: o.LastModified?.getTime() ?? 0,
        });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }
}
