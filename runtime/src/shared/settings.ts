import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RoundhouseError } from './errors.js';

export type SandboxMode = 'bwrap' | 'none' | 'auto';

/** Server settings, validated once at start and frozen. */
export interface Settings {
  readonly dataDir: string;
  readonly port: number;
  readonly host: string;
  /** Bootstrap admin's API token. */
  readonly adminToken: string;
  /** True when the admin token was generated at this start (and must be shown to the operator). */
  readonly adminTokenGenerated: boolean;
  readonly demo: boolean;
  /** Unset = SQLite file in the data dir. */
  readonly databaseUrl: string | undefined;
  readonly sandbox: SandboxMode;
  /** Local executor slots (concurrent jobs) in embedded mode. */
  readonly executorSlots: number;
  /** Shared secret executors present to claim work. */
  readonly executorToken: string;
  /** Seconds SIGTERM waits for running jobs before requeueing them. */
  readonly drainSeconds: number;
  /** URL under which this server is reachable (for links and the local executors). */
  readonly publicUrl: string;
  /** Objects (artifacts, caches, workspaces, test results) older than this many days are deleted; 0 = never. */
  readonly objectExpiryDays: number;
  /** Serve html/css/javascript/xml artifacts as their own types instead of text/plain (unsafe). */
  readonly artifactsServeUnsafe: boolean;
  /** Docker Engine API for `docker` executor jobs (unix socket path, unix://…, tcp://…); unset = run them on the local sandbox. */
  readonly docker: { readonly host: string; readonly network: string; readonly ecrEndpoint?: string } | undefined;
  /** Object storage: unset = a folder in the data dir; else an S3 (or S3-compatible) bucket. */
  readonly objects:
    | { readonly bucket: string; readonly region: string; readonly endpoint?: string; readonly prefix?: string }
    | undefined;
  /** GitHub / GitHub Enterprise OAuth login; unset = token login only. */
  readonly github:
    | { readonly url: string; readonly apiUrl: string; readonly clientId: string; readonly clientSecret: string }
    | undefined;
  /** Secret GitHub signs webhook deliveries with; unset = the webhook route refuses every delivery. */
  readonly webhookSecret: string | undefined;
  /** Who wraps the data keys of secrets at rest. */
  readonly keyProvider: {
    readonly kind: 'local' | 'aws-kms' | 'gcp-kms';
    /** AWS key id/ARN/alias, or GCP `projects/…/locations/…/keyRings/…/cryptoKeys/…`. */
    readonly keyId?: string;
    readonly region?: string;
    readonly endpoint?: string;
  };
}

type Env = Record<string, string | undefined>;

/** Reads NAME, or the contents of the file named by NAME_FILE (for secrets). */
function secret(env: Env, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new RoundhouseError('RH_SETTINGS_INVALID', `${name}_FILE`, `cannot read ${file}: ${(e as Error).message}`);
    }
  }
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new RoundhouseError('RH_SETTINGS_INVALID', name, `expected an integer from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

export function loadSettings(env: Env = process.env): Settings {
  const port = int(env, 'ROUNDHOUSE_PORT', 3000, 0, 65535);
  const host = env.ROUNDHOUSE_LISTEN_HOST || '127.0.0.1';
  const dataDir = resolve(env.ROUNDHOUSE_DATA_DIR || '.roundhouse');
  let adminToken = secret(env, 'ROUNDHOUSE_ADMIN_TOKEN');
  const adminTokenGenerated = adminToken === undefined;
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new RoundhouseError('RH_SETTINGS_INVALID', 'ROUNDHOUSE_ADMIN_TOKEN', 'must be at least 16 characters');
  }
  adminToken ??= `rh_${randomBytes(20).toString('hex')}`;
  const demoRaw = env.ROUNDHOUSE_DEMO ?? '1';
  if (!['0', '1', 'true', 'false'].includes(demoRaw)) {
    throw new RoundhouseError('RH_SETTINGS_INVALID', 'ROUNDHOUSE_DEMO', `expected 0 or 1, got "${demoRaw}"`);
  }
  const databaseUrl = secret(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new RoundhouseError('RH_SETTINGS_INVALID', 'DATABASE_URL', 'expected a postgres:// URL (unset = SQLite)');
  }
  const sandbox = (env.ROUNDHOUSE_SANDBOX || 'auto') as SandboxMode;
  if (!['bwrap', 'none', 'auto'].includes(sandbox)) {
    throw new RoundhouseError('RH_SETTINGS_INVALID', 'ROUNDHOUSE_SANDBOX', `expected bwrap or none, got "${sandbox}"`);
  }
  const bucket = env.ROUNDHOUSE_OBJECTS_BUCKET;
  if (bucket !== undefined && bucket !== '' && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new RoundhouseError(
      'RH_SETTINGS_INVALID',
      'ROUNDHOUSE_OBJECTS_BUCKET',
      `"${bucket}" is not a valid bucket name`,
    );
  }
  const endpoint = env.ROUNDHOUSE_OBJECTS_ENDPOINT || undefined;
  if (endpoint && !/^https?:\/\//.test(endpoint))
    throw new RoundhouseError('RH_SETTINGS_INVALID', 'ROUNDHOUSE_OBJECTS_ENDPOINT', 'expected an http(s) URL');
  const objects = bucket
    ? {
        bucket,
        region: env.ROUNDHOUSE_OBJECTS_REGION || 'us-east-1',
        endpoint,
        prefix: env.ROUNDHOUSE_OBJECTS_PREFIX || undefined,
      }
    : undefined;
  const dockerHost = env.ROUNDHOUSE_DOCKER_HOST || undefined;
  if (dockerHost !== undefined && !/^(unix:\/\/\/|\/|tcp:\/\/|https?:\/\/)/.test(dockerHost))
    throw new RoundhouseError(
      'RH_SETTINGS_INVALID',
      'ROUNDHOUSE_DOCKER_HOST',
      `expected a socket path, unix:///path or tcp://host:port, got "${dockerHost}"`,
    );
  const dockerNetwork = env.ROUNDHOUSE_DOCKER_NETWORK || 'bridge';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(dockerNetwork))
    throw new RoundhouseError(
      'RH_SETTINGS_INVALID',
      'ROUNDHOUSE_DOCKER_NETWORK',
      `not a network name: "${dockerNetwork}"`,
    );
  const docker = dockerHost
    ? { host: dockerHost, network: dockerNetwork, ecrEndpoint: env.ROUNDHOUSE_ECR_ENDPOINT || undefined }
    : undefined;
  const githubUrl = (env.ROUNDHOUSE_GITHUB_URL || 'https://github.com').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(githubUrl))
    throw new RoundhouseError('RH_SETTINGS_INVALID', 'ROUNDHOUSE_GITHUB_URL', 'expected an http(s) URL');
  const clientId = env.ROUNDHOUSE_GITHUB_CLIENT_ID || undefined;
  const clientSecret = secret(env, 'ROUNDHOUSE_GITHUB_CLIENT_SECRET');
  if (!!clientId !== !!clientSecret)
    throw new RoundhouseError(
      'RH_SETTINGS_INVALID',
      clientId ? 'ROUNDHOUSE_GITHUB_CLIENT_SECRET' : 'ROUNDHOUSE_GITHUB_CLIENT_ID',
      'GitHub login needs both the client id and the client secret',
    );
  const apiUrl =
    env.ROUNDHOUSE_GITHUB_API_URL ||
    (/^https:\/\/github\.com$/.test(githubUrl) ? 'https://api.github.com' : `${githubUrl}/api/v3`);
  const kind = (env.ROUNDHOUSE_KEY_PROVIDER || 'local') as Settings['keyProvider']['kind'];
  if (!['local', 'aws-kms', 'gcp-kms'].includes(kind))
    throw new RoundhouseError(
      'RH_SETTINGS_INVALID',
      'ROUNDHOUSE_KEY_PROVIDER',
      `expected local, aws-kms or gcp-kms, got "${kind}"`,
    );
  const keyId = env.ROUNDHOUSE_KMS_KEY_ID || undefined;
  if (kind !== 'local' && !keyId)
    throw new RoundhouseError(
      'RH_SETTINGS_INVALID',
      'ROUNDHOUSE_KMS_KEY_ID',
      `is required with ROUNDHOUSE_KEY_PROVIDER=${kind}`,
    );
  if (kind === 'gcp-kms' && !/^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/.test(keyId!))
    throw new RoundhouseError(
      'RH_SETTINGS_INVALID',
      'ROUNDHOUSE_KMS_KEY_ID',
      'expected projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>',
    );
  const kmsEndpoint = env.ROUNDHOUSE_KMS_ENDPOINT || undefined;
  if (kmsEndpoint && !/^https?:\/\//.test(kmsEndpoint))
    throw new RoundhouseError('RH_SETTINGS_INVALID', 'ROUNDHOUSE_KMS_ENDPOINT', 'expected an http(s) URL');
  const publicUrl = env.ROUNDHOUSE_URL || `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  return Object.freeze({
    dataDir,
    port,
    host,
    adminToken,
    adminTokenGenerated,
    demo: demoRaw === '1' || demoRaw === 'true',
    databaseUrl,
    sandbox,
    executorSlots: int(env, 'ROUNDHOUSE_EXECUTOR_SLOTS', 2, 0, 256),
    executorToken: secret(env, 'ROUNDHOUSE_EXECUTOR_TOKEN') ?? randomBytes(24).toString('hex'),
    drainSeconds: int(env, 'ROUNDHOUSE_DRAIN_SECONDS', 10, 0, 3600),
    publicUrl,
    objects,
    docker,
    artifactsServeUnsafe: ['1', 'true'].includes(env.ROUNDHOUSE_ARTIFACTS_SERVE_UNSAFE ?? ''),
    objectExpiryDays: int(env, 'ROUNDHOUSE_OBJECT_EXPIRY_DAYS', 0, 0, 36500),
    github: clientId && clientSecret ? { url: githubUrl, apiUrl, clientId, clientSecret } : undefined,
    webhookSecret: secret(env, 'ROUNDHOUSE_GITHUB_WEBHOOK_SECRET'),
    keyProvider: Object.freeze({ kind, keyId, region: env.ROUNDHOUSE_KMS_REGION || undefined, endpoint: kmsEndpoint }),
  });
}
