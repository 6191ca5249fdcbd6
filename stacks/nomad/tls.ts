/**
 * Nomad mTLS: a private CA, a server certificate (for the Nomad servers in the cluster) and a client
 * certificate (baked into the Nomad clients' startup script). Nomad checks the `server.<region>.nomad`
 * and `client.<region>.nomad` names, not DNS, so those names are what matter.
 */
import * as pulumi from '@pulumi/pulumi';
import * as tls from '@pulumi/tls';
import { computed } from '../common.js';
import { NODE_CLASS, NOMAD_VERSION, renderStartupScript, type StartupArgs } from './startup.js';

export interface NomadTlsArgs {
  /** Host part of the servers' address, added to the server certificate. */
  readonly serverHost: string;
  /** Kubernetes namespace of the Nomad servers (service DNS names in the server certificate). */
  readonly serverNamespace: string;
}

const CA_HOURS = 10 * 365 * 24;
const LEAF_HOURS = 3 * 365 * 24;
/** A leaf certificate within 30 days of expiry is replaced by the next `pulumi up`. */
const RENEW_HOURS = 30 * 24;

export class NomadTls extends pulumi.ComponentResource {
  readonly caPem: pulumi.Output<string>;
  readonly serverCertPem: pulumi.Output<string>;
  readonly serverKeyPem: pulumi.Output<string>;
  readonly clientCertPem: pulumi.Output<string>;
  readonly clientKeyPem: pulumi.Output<string>;

  constructor(name: string, args: NomadTlsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:nomad:Tls', name, {}, opts);
    const parent = { parent: this };

    const caKey = new tls.PrivateKey(`${name}-ca`, { algorithm: 'RSA', rsaBits: 4096 }, parent);
    const ca = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: caKey.privateKeyPem,
        isCaCertificate: true,
        validityPeriodHours: CA_HOURS,
        subject: { commonName: 'Roundhouse Nomad CA', organization: 'Roundhouse' },
        allowedUses: ['cert_signing', 'crl_signing', 'digital_signature', 'key_encipherment'],
      },
      parent,
    );

    const leaf = (role: 'server' | 'client', dnsNames: string[]) => {
      const key = new tls.PrivateKey(`${name}-${role}`, { algorithm: 'RSA', rsaBits: 2048 }, parent);
      const csr = new tls.CertRequest(
        `${name}-${role}`,
        {
          privateKeyPem: key.privateKeyPem,
          subject: { commonName: `${role}.global.nomad`, organization: `nomad:${role}` },
          dnsNames,
          ipAddresses: ['127.0.0.1'],
        },
        parent,
      );
      const cert = new tls.LocallySignedCert(
        `${name}-${role}`,
        {
          certRequestPem: csr.certRequestPem,
          caPrivateKeyPem: caKey.privateKeyPem,
          caCertPem: ca.certPem,
          validityPeriodHours: LEAF_HOURS,
          earlyRenewalHours: RENEW_HOURS,
          allowedUses: ['digital_signature', 'key_encipherment', 'key_agreement', 'server_auth', 'client_auth'],
        },
        parent,
      );
      // The provider marks privateKeyPem secret; everything derived from it stays secret in the state.
      return { cert: computed(cert.certPem, ''), key: computed(key.privateKeyPem, '') };
    };

    const ns = args.serverNamespace;
    const server = leaf('server', [
      'server.global.nomad',
      'localhost',
      args.serverHost,
      'nomad-server',
      `nomad-server.${ns}.svc`,
      `nomad-server.${ns}.svc.cluster.local`,
    ]);
    const client = leaf('client', ['client.global.nomad', 'localhost']);

    this.caPem = computed(ca.certPem, '');
    this.serverCertPem = server.cert;
    this.serverKeyPem = server.key;
    this.clientCertPem = client.cert;
    this.clientKeyPem = client.key;
    this.registerOutputs({ caPem: this.caPem, serverCertPem: this.serverCertPem, clientCertPem: this.clientCertPem });
  }

  /** The Nomad client startup script with this CA and client certificate (both clouds). */
  startupScript(
    a: Omit<StartupArgs, 'caPem' | 'certPem' | 'keyPem' | 'nodeClass' | 'nomadVersion'>,
  ): pulumi.Output<string> {
    return pulumi
      .all([this.caPem, this.clientCertPem, this.clientKeyPem])
      .apply(([caPem, certPem, keyPem]) =>
        renderStartupScript({ ...a, caPem, certPem, keyPem, nodeClass: NODE_CLASS, nomadVersion: NOMAD_VERSION }),
      );
  }
}
