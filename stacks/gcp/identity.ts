/**
 * Workload identities (GKE Workload Identity): a Google service account per runtime role, Velero and the
 * Nomad autoscaler, each usable only by its own Kubernetes service account, granted on the one bucket or
 * key it needs (bucket- and key-level IAM, not project roles) — the same table as AWS (policies/access.ts).
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import {
  type BucketPurpose,
  NOMAD_AUTOSCALER_SERVICE_ACCOUNT,
  type ObjectAccess,
  RUNTIME_ACCESS,
  RUNTIME_NAMESPACE,
  RUNTIME_ROLES,
  VELERO_NAMESPACE,
  VELERO_SERVICE_ACCOUNT,
} from '../../policies/access.js';
import {
  GCS_ROLE,
  KMS_ROLE,
  NOMAD_AUTOSCALER_PERMISSIONS,
  onlyInstanceGroupManager,
  SIGN_BLOB_ROLE,
  VELERO_BUCKET_ROLE,
  VELERO_ROLE_PERMISSIONS,
  VM_SERVICE_ACT_AS_ROLE,
  VM_SERVICE_PROJECT_ROLES,
  WORKLOAD_IDENTITY_USER_ROLE,
  workloadIdentityMember,
} from '../../policies/gcp-iam.js';
import type { IdentityKey } from '../outputs.js';
import { saEmail } from './cluster.js';

/** Short account ids: GCP allows 30 characters including the environment. */
const ACCOUNT_ID: Record<IdentityKey, string> = {
  api: 'api',
  conductor: 'conductor',
  dispatcher: 'dispatcher',
  output: 'output',
  'vm-service': 'vm-service',
  velero: 'velero',
  'nomad-autoscaler': 'autoscaler',
};

export interface GcpIdentityArgs {
  readonly environment: string;
  readonly project: string;
  readonly region: string;
  readonly bucketNames: Record<BucketPurpose, string>;
  readonly buckets: pulumi.Resource[];
  readonly secretsKeyId: string;
  /** Service account the VM-service's VMs run as (the VM service must act as it). */
  readonly vmAccountEmail: string;
  readonly vmAccount: pulumi.Resource;
  readonly nomadGroupName: string;
}

export class GcpIdentity extends pulumi.ComponentResource {
  /** Google service account email per identity, for the `iam.gke.io/gcp-service-account` annotation. */
  readonly emails: Record<IdentityKey, string>;

  constructor(name: string, args: GcpIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:gcp:Identity', name, {}, opts);
    const env = args.environment;
    const roleId = (what: string) => `roundhouse_${env.replace(/-/g, '_')}_${what}`;
    this.emails = {} as Record<IdentityKey, string>;

    const identity = (id: IdentityKey, namespace: string, ksa: string) => {
      const accountId = `${env}-${ACCOUNT_ID[id]}`;
      const email = saEmail(accountId, args.project);
      this.emails[id] = email;
      const sa = new gcp.serviceaccount.Account(
        `${name}-${id}`,
        { accountId, displayName: `Roundhouse ${env} ${id}`, project: args.project },
        { parent: this },
      );
      const saPath = `projects/${args.project}/serviceAccounts/${email}`;
      const member = `serviceAccount:${email}`;
      const on = { parent: this, dependsOn: [sa] };
      new gcp.serviceaccount.IAMMember(
        `${name}-${id}-workload-identity`,
        {
          serviceAccountId: saPath,
          role: WORKLOAD_IDENTITY_USER_ROLE,
          member: workloadIdentityMember(args.project, namespace, ksa),
        },
        on,
      );
      const onBucket = (purpose: BucketPurpose, role: string) =>
        new gcp.storage.BucketIAMMember(
          `${name}-${id}-${purpose}`,
          { bucket: args.bucketNames[purpose], role, member },
          { parent: this, dependsOn: [sa, ...args.buckets] },
        );
      const signsOwnUrls = () =>
        new gcp.serviceaccount.IAMMember(
          `${name}-${id}-sign-blob`,
          { serviceAccountId: saPath, role: SIGN_BLOB_ROLE, member },
          on,
        );
      return { member, on, onBucket, signsOwnUrls };
    };

    for (const id of RUNTIME_ROLES) {
      const access = RUNTIME_ACCESS[id];
      const ident = identity(id, RUNTIME_NAMESPACE, id);
      for (const [purpose, mode] of Object.entries(access.buckets) as [BucketPurpose, ObjectAccess][])
        ident.onBucket(purpose, GCS_ROLE[mode]);
      if (access.secretsKey)
        new gcp.kms.CryptoKeyIAMMember(
          `${name}-${id}-secrets-key`,
          { cryptoKeyId: args.secretsKeyId, role: KMS_ROLE[access.secretsKey], member: ident.member },
          ident.on,
        );
      if (access.signsUrls) ident.signsOwnUrls();
      if (id === 'vm-service') {
        for (const role of VM_SERVICE_PROJECT_ROLES)
          new gcp.projects.IAMMember(
            `${name}-vm-service-${role.split('/')[1]}`,
            { project: args.project, role, member: ident.member },
            ident.on,
          );
        // serviceAccountUser only on the VMs' own account, not project-wide.
        new gcp.serviceaccount.IAMMember(
          `${name}-vm-service-act-as-vm`,
          {
            serviceAccountId: `projects/${args.project}/serviceAccounts/${args.vmAccountEmail}`,
            role: VM_SERVICE_ACT_AS_ROLE,
            member: ident.member,
          },
          { parent: this, dependsOn: [args.vmAccount] },
        );
      }
    }

    const velero = identity('velero', VELERO_NAMESPACE, VELERO_SERVICE_ACCOUNT);
    const veleroRole = new gcp.projects.IAMCustomRole(
      `${name}-velero`,
      {
        project: args.project,
        roleId: roleId('velero'),
        title: `Roundhouse ${env} Velero`,
        permissions: [...VELERO_ROLE_PERMISSIONS],
      },
      { parent: this },
    );
    new gcp.projects.IAMMember(
      `${name}-velero-role`,
      { project: args.project, role: `projects/${args.project}/roles/${roleId('velero')}`, member: velero.member },
      { parent: this, dependsOn: [veleroRole] },
    );
    velero.onBucket('backups', VELERO_BUCKET_ROLE);
    // With Workload Identity Velero signs download URLs as itself (operations guide: iam.serviceAccounts.signBlob).
    velero.signsOwnUrls();

    const scaler = identity('nomad-autoscaler', RUNTIME_NAMESPACE, NOMAD_AUTOSCALER_SERVICE_ACCOUNT);
    const scalerRole = new gcp.projects.IAMCustomRole(
      `${name}-autoscaler`,
      {
        project: args.project,
        roleId: roleId('nomad_autoscaler'),
        title: `Roundhouse ${env} Nomad autoscaler`,
        permissions: [...NOMAD_AUTOSCALER_PERMISSIONS],
      },
      { parent: this },
    );
    new gcp.projects.IAMMember(
      `${name}-autoscaler-role`,
      {
        project: args.project,
        role: `projects/${args.project}/roles/${roleId('nomad_autoscaler')}`,
        member: scaler.member,
        condition: onlyInstanceGroupManager(args.project, args.region, args.nomadGroupName),
      },
      { parent: this, dependsOn: [scalerRole] },
    );

    this.registerOutputs({ emails: this.emails });
  }
}
