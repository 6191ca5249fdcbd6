/** The GCP composition: one environment's network, cluster, storage, identities, fleet and Flux. */
import * as gcp from '@pulumi/gcp';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { BUCKET_PURPOSES, type BucketPurpose, RUNTIME_NAMESPACE } from '../../policies/access.js';
import { ENVIRONMENT_LABEL, MANAGED_BY_LABEL, STACK_MANAGED_BY } from '../../policies/tags.js';
import { bucketName } from '../common.js';
import type { Settings } from '../config.js';
import { execKubeconfig, FluxBootstrap } from '../flux.js';
import { NomadTls } from '../nomad/tls.js';
import { nomadSecrets, stackOutputs } from '../outputs.js';
import { GkeCluster, saEmail } from './cluster.js';
import { CloudSql } from './database.js';
import { GcpFleetFirewall } from './firewall.js';
import { GcpIdentity } from './identity.js';
import { GcpKeys } from './keys.js';
import { GcpNetwork } from './network.js';
import { GcpNomadClients } from './nomad.js';
import { GcsStorage } from './storage.js';

export function deployGcp(s: Settings) {
  if (!s.gcp) throw new Error('deployGcp needs GCP settings');
  const { project, projectNumber, masterCidr } = s.gcp;
  const env = s.environment;
  const region = s.region;

  const provider = new gcp.Provider('gcp', {
    project,
    region,
    defaultLabels: { [MANAGED_BY_LABEL]: STACK_MANAGED_BY, [ENVIRONMENT_LABEL]: env },
  });
  const on = { providers: [provider] };

  const network = new GcpNetwork('network', { environment: env, project, region, cidr: s.vpcCidr }, on);
  const keys = new GcpKeys('keys', { environment: env, project, projectNumber, region }, on);

  const names = Object.fromEntries(BUCKET_PURPOSES.map((p) => [p, bucketName(s, p)])) as Record<BucketPurpose, string>;
  const storage = new GcsStorage(
    'storage',
    {
      environment: env,
      region,
      names,
      kmsKeyId: keys.storageKeyId,
      objectExpiryDays: s.storage.objectExpiryDays,
      dependsOn: keys.agentGrants,
    },
    on,
  );

  const clusterName = `roundhouse-${env}`;
  const cluster = new GkeCluster(
    'cluster',
    {
      environment: env,
      project,
      region,
      zones: s.zones,
      clusterName,
      kubernetesVersion: s.kubernetesVersion,
      networkId: network.networkId,
      subnetworkId: network.subnetworkIds.cluster,
      masterCidr,
      vpcCidr: s.vpcCidr,
      authorizedCidrs: s.cluster.authorizedCidrs,
      nodeType: s.cluster.nodeType,
      nodeCount: s.cluster.nodeCount,
      nodeMax: s.cluster.nodeMax,
      secretsKeyId: keys.secretsKeyId,
      storageKeyId: keys.storageKeyId,
      dependsOn: [network, ...keys.agentGrants],
    },
    on,
  );

  const firewall = new GcpFleetFirewall(
    'fleet-firewall',
    { environment: env, networkId: network.networkId, vpcCidr: s.vpcCidr, sshRerunCidrs: s.nomad.sshRerunCidrs },
    { ...on, dependsOn: [network] },
  );

  const tls = new NomadTls('nomad-tls', {
    serverHost: s.nomad.serverAddress.split(':')[0],
    serverNamespace: RUNTIME_NAMESPACE,
  });
  const groupName = `roundhouse-${env}-nomad-clients`;
  new GcpNomadClients(
    'nomad-clients',
    {
      environment: env,
      project,
      region,
      zones: s.zones,
      nomad: s.nomad,
      groupName,
      subnetworkId: network.subnetworkIds.nomad,
      networkTag: firewall.nomadTag,
      storageKeyId: keys.storageKeyId,
      tls,
      // Job containers reach neither the cluster's nodes nor its pods and services.
      blockedCidrs: [
        network.ranges.cluster,
        network.ranges.pods,
        network.ranges.services,
        network.ranges.privateServices,
      ],
      dependsOn: [network, ...keys.agentGrants],
    },
    on,
  );

  // The account the VM service's VMs run as: no roles (VMs run users' jobs).
  const vmAccountId = `${env}-vm`;
  const vmAccount = new gcp.serviceaccount.Account(
    'vm-account',
    { accountId: vmAccountId, displayName: `Roundhouse ${env} VMs`, project },
    { provider },
  );
  const identity = new GcpIdentity(
    'identity',
    {
      environment: env,
      project,
      region,
      bucketNames: storage.names,
      buckets: storage.buckets,
      secretsKeyId: keys.secretsKeyId,
      vmAccountEmail: saEmail(vmAccountId, project),
      vmAccount,
      nomadGroupName: groupName,
    },
    on,
  );

  const database =
    s.database.mode === 'managed'
      ? new CloudSql(
          'database',
          {
            environment: env,
            project,
            region,
            database: s.database,
            networkId: network.networkId,
            network: network.network,
            privateServicesCidr: network.ranges.privateServices,
            storageKeyId: keys.storageKeyId,
            dependsOn: keys.agentGrants,
          },
          on,
        )
      : undefined;

  const kubeconfig = execKubeconfig({
    name: clusterName,
    endpoint: cluster.endpoint,
    caData: cluster.caData,
    command: 'gke-gcloud-auth-plugin',
    commandArgs: [],
  });
  const k8sProvider = new k8s.Provider(
    'cluster',
    { kubeconfig, enableServerSideApply: true },
    { dependsOn: [cluster] },
  );

  const outputs = stackOutputs(s, {
    buckets: storage.names,
    objectsEndpoint: 'https://storage.googleapis.com',
    secretsProvider: 'gcp-kms',
    secretsKey: keys.secretsKeyId,
    identityAnnotation: 'iam.gke.io/gcp-service-account',
    identities: identity.emails,
    clusterName,
    nomadClientGroup: groupName,
    vmPlacement: {
      VM_SERVICE_NETWORK_TAG: firewall.vmTag,
      VM_SERVICE_SUBNETWORK: network.subnetworkIds.vms,
      VM_SERVICE_ACCOUNT: saEmail(vmAccountId, project),
      GCP_PROJECT: project,
    },
    ...(database ? { databaseHost: database.host } : {}),
  });
  const flux = new FluxBootstrap(
    'flux',
    {
      environment: env,
      gitUrl: s.flux.gitUrl,
      gitBranch: s.flux.gitBranch,
      ...(s.flux.gitSecretName ? { gitSecretName: s.flux.gitSecretName } : {}),
      chartVersion: s.flux.chartVersion,
      outputs,
      secrets: nomadSecrets(tls, database?.url),
    },
    { providers: [k8sProvider] },
  );

  return {
    clusterName,
    clusterEndpoint: cluster.endpoint,
    buckets: storage.names,
    identities: identity.emails,
    nomadClientGroup: groupName,
    kustomizationPath: flux.kustomizationPath,
    stackOutputs: pulumi.output(outputs),
    nomadCaPem: tls.caPem,
  };
}
