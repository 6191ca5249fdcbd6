import { keyProviderFor } from '../server.js';
import { Envelope, LocalKeyProvider, rewrapAll } from '../secrets/envelope.js';
import { loadSettings } from '../shared/settings.js';
import { Store } from '../store/store.js';
import { CliError } from './client.js';

/**
 * `roundhouse secrets rotate-key`: on the server's machine (same settings as `roundhouse server`).
 * With the local key file, adds a new key and makes it current; with KMS, the current key is
 * ROUNDHOUSE_KMS_KEY_ID (point it at the new key first). Then every stored data key is wrapped again
 * by the current key. Running servers keep working throughout: they unwrap old and new wrappings.
 */
export async function secretsCommand(sub: string | undefined): Promise<number> {
  if (sub !== 'rotate-key') throw new CliError('usage: roundhouse secrets rotate-key');
  const settings = loadSettings();
  const keys = keyProviderFor(settings);
  const store = await Store.open(settings.databaseUrl, settings.dataDir);
  try {
    const added = keys instanceof LocalKeyProvider ? keys.rotate() : undefined;
    const n = await rewrapAll(new Envelope(keys), store.secrets);
    process.stdout.write(
      `${added ? `new key ${added} is current; ` : `data keys wrapped with ${keys.id} key ${settings.keyProvider.keyId}; `}re-wrapped ${n} secret(s)\n`,
    );
    return 0;
  } finally {
    await store.close();
  }
}
