/**
 * A database password that is generated once and then stays the same on every `pulumi up`.
 *
 * Why not @pulumi/random: it is not a dependency of this repository. A @pulumi/tls private key has the
 * same lifecycle (generated at create, stored encrypted in the state, never regenerated), so the password
 * is a hash of one. Replacing the `seed` resource rotates the password.
 */
import { createHash } from 'node:crypto';
import * as pulumi from '@pulumi/pulumi';
import * as tls from '@pulumi/tls';

export function databasePassword(name: string, opts: pulumi.CustomResourceOptions): pulumi.Output<string> {
  const seed = new tls.PrivateKey(`${name}-password-seed`, { algorithm: 'ED25519' }, opts);
  return pulumi.secret(
    pulumi.output(seed.privateKeyPem).apply((pem) =>
      // Under unit-test mocks the key has no PEM; the hash of the name stands in.
      createHash('sha256')
        .update(pem ?? name)
        .digest('base64url')
        .slice(0, 40),
    ),
  );
}
