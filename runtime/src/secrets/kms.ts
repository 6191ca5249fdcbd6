import type { KeyProvider } from './envelope.js';

/**
 * AWS KMS wraps data keys (Encrypt/Decrypt with a symmetric key). The ciphertext names its key, so
 * after a rotation to a new key id the old wrappings still unwrap. `endpoint` points the SDK at a
 * VPC endpoint (or, in tests, at a local fake of the KMS JSON API).
 */
export class AwsKmsKeyProvider implements KeyProvider {
  readonly id = 'aws-kms';
  #client: Promise<{ send(cmd: unknown): Promise<any> }>;
  #sdk = import('@aws-sdk/client-kms');
  constructor(
    readonly keyId: string,
    opts: {
      region?: string;
      endpoint?: string;
      credentials?: { accessKeyId: string; secretAccessKey: string };
    } = {},
  ) {
    this.#client = this.#sdk.then(
      ({ KMSClient }) =>
        new KMSClient({
          region: opts.region ?? 'us-east-1',
          ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
          ...(opts.credentials ? { credentials: opts.credentials } : {}),
        }),
    );
  }
  async wrap(dataKey: Buffer) {
    const { EncryptCommand } = await this.#sdk;
    const out = await (await this.#client).send(new EncryptCommand({ KeyId: this.keyId, Plaintext: dataKey }));
    return Buffer.from(out.CiphertextBlob as Uint8Array).toString('base64');
  }
  async unwrap(wrapped: string) {
    const { DecryptCommand } = await this.#sdk;
    const out = await (await this.#client).send(new DecryptCommand({ CiphertextBlob: Buffer.from(wrapped, 'base64') }));
    return Buffer.from(out.Plaintext as Uint8Array);
  }
}

/**
 * GCP Cloud KMS wraps data keys with a symmetric CryptoKey (`projects/…/cryptoKeys/…`). GCP's
 * Decrypt needs the key's name, so a wrapping is `<key name>|<base64 ciphertext>`.
 */
export class GcpKmsKeyProvider implements KeyProvider {
  readonly id = 'gcp-kms';
  #client: Promise<{
    encrypt(req: { name: string; plaintext: Buffer }): Promise<[{ ciphertext?: Uint8Array | string | null }]>;
    decrypt(req: { name: string; ciphertext: Buffer }): Promise<[{ plaintext?: Uint8Array | string | null }]>;
  }>;
  constructor(
    readonly keyName: string,
    /** Client options (e.g. `fallback: true` for REST, `apiEndpoint`, `authClient`). */
    opts: Record<string, unknown> = {},
  ) {
    this.#client = import('@google-cloud/kms').then(
      ({ KeyManagementServiceClient }) => new KeyManagementServiceClient(opts as never) as any,
    );
  }
  async wrap(dataKey: Buffer) {
    const [out] = await (await this.#client).encrypt({ name: this.keyName, plaintext: dataKey });
    return `${this.keyName}|${Buffer.from(out.ciphertext as Uint8Array).toString('base64')}`;
  }
  async unwrap(wrapped: string) {
    const i = wrapped.lastIndexOf('|');
    const [out] = await (await this.#client).decrypt({
      name: wrapped.slice(0, i),
      ciphertext: Buffer.from(wrapped.slice(i + 1), 'base64'),
    });
    const p = out.plaintext as Uint8Array | string;
    return typeof p === 'string' ? Buffer.from(p, 'base64') : Buffer.from(p);
  }
}
