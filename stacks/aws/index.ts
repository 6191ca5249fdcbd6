/** The AWS composition: one environment's network, cluster, storage, identities, fleet and Flux. */
import * as aws from '@pulumi/aws';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { BUCKET_PURPOSES, type BucketPurpose, RUNTIME_NAMESPACE } from '../../policies/access.js';
import { asgArn } from '../../policies/aws-iam.js';
import { ENVIRONMENT_TAG, MANAGED_BY_TAG, STACK_MANAGED_BY } from '../../policies/tags.js';
import { hostOf } from '../cidr.js';
import { bucketName } from '../common.js';
import type { Settings } from '../config.js';
import { execKubeconfig, FluxBootstrap } from '../flux.js';
import { NomadTls } from '../nomad/tls.js';
import { nomadSecrets, stackOutputs } from '../outputs.js';
import { Cluster } from './cluster.js';
import { Database } from './database.js';
import { FleetFirewall } from './firewall.js';
import { Identity } from './identity.js';
import { Keys } from './keys.js';
import { Network } from './network.js';
import { NomadClients } from './nomad.js';
import { ObjectStorage } from './storage.js';

export function deployAws(s: Settings) {
  if (!s.aws) throw new Error('deployAws needs AWS settings');
  const { accountId, partition } = s.aws;
  const env = s.environment;
  const region = s.region;

  // Every AWS resource goes through this provider: it refuses to run against any other account.
  const provider = new aws.Provider('aws', {
    region,
    allowedAccountIds: [accountId],
    defaultTags: { tags: { [MANAGED_BY_TAG]: STACK_MANAGED_BY, [ENVIRONMENT_TAG]: env } },
  });
  const on = { providers: [provider] };

  const clusterName = `roundhouse-${env}`;
  const network = new Network('network', { environment: env, cidr: s.vpcCidr, zones: s.zones, clusterName }, on);
  const keys = new Keys('keys', { environment: env, partition, region, accountId }, on);

  const names = Object.fromEntries(BUCKET_PURPOSES.map((p) => [p, bucketName(s, p)])) as Record<BucketPurpose, string>;
  const storage = new ObjectStorage(
    'storage',
    { environment: env, partition, names, kmsKeyArn: keys.storage.arn, objectExpiryDays: s.storage.objectExpiryDays },
    on,
  );

  const cluster = new Cluster(
    'cluster',
    {
      environment: env,
      clusterName,
      partition,
      accountId,
      kubernetesVersion: s.kubernetesVersion,
      subnetIds: network.subnetIds.cluster,
      authorizedCidrs: s.cluster.authorizedCidrs,
      nodeType: s.cluster.nodeType,
      nodeCount: s.cluster.nodeCount,
      nodeMax: s.cluster.nodeMax,
      secretsKeyArn: keys.secrets.arn,
      storageKeyArn: keys.storage.arn,
    },
    on,
  );

  const firewall = new FleetFirewall(
    'fleet-firewall',
    { environment: env, vpcId: network.vpcId, vpcCidr: s.vpcCidr, sshRerunCidrs: s.nomad.sshRerunCidrs },
    on,
  );

  const tls = new NomadTls('nomad-tls', {
    serverHost: s.nomad.serverAddress.split(':')[0],
    serverNamespace: RUNTIME_NAMESPACE,
  });
  const asgName = `roundhouse-${env}-nomad-clients`;
  new NomadClients(
    'nomad-clients',
    {
      environment: env,
      partition,
      region,
      accountId,
      nomad: s.nomad,
      asgName,
      subnetIds: network.subnetIds.nomad,
      securityGroupId: firewall.nomadSecurityGroupId,
      storageKeyArn: keys.storage.arn,
      tls,
      blockedCidrs: network.subnetCidrs.cluster,
      // The Amazon-provided resolver sits at the VPC base address + 2.
      dnsServer: hostOf(s.vpcCidr, 2),
    },
    on,
  );

  const vpcArn = pulumi.interpolate`arn:${partition}:ec2:${region}:${accountId}:vpc/${network.vpcId}`;
  const identity = new Identity(
    'identity',
    {
      environment: env,
      partition,
      accountId,
      oidcProviderArn: cluster.oidcProviderArn,
      issuerHostPath: cluster.issuerHostPath,
      bucketNames: storage.names,
      bucketArns: storage.arns,
      storageKeyArn: keys.storage.arn,
      secretsKeyArn: keys.secrets.arn,
      vmSecurityGroupId: firewall.vmSecurityGroupId,
      vpcArn,
      nomadAsgArn: asgArn(partition, region, accountId, asgName),
    },
    on,
  );

  const database =
    s.database.mode === 'managed'
      ? new Database(
          'database',
          {
            environment: env,
            database: s.database,
            vpcId: network.vpcId,
            subnetIds: network.subnetIds.cluster,
            clientCidrs: network.subnetCidrs.cluster,
            storageKeyArn: keys.storage.arn,
          },
          on,
        )
      : undefined;

  const kubeconfig = execKubeconfig({
    name: clusterName,
    endpoint: cluster.endpoint,
    caData: cluster.caData,
    command: 'aws',
    commandArgs: ['eks', 'get-token', '--cluster-name', clusterName, '--region', region, '--output', 'json'],
  });
  const k8sProvider = new k8s.Provider(
    'cluster',
    { kubeconfig, enableServerSideApply: true },
    { dependsOn: [cluster] },
  );

  const outputs = stackOutputs(s, {
    buckets: storage.names,
    objectsEndpoint: `https://s3.${region}.amazonaws.com${partition === 'aws-cn' ? '.cn' : ''}`,
    secretsProvider: 'aws-kms',
    secretsKey: keys.secrets.arn,
    identityAnnotation: 'eks.amazonaws.com/role-arn',
    identities: identity.roleArns,
    clusterName,
    nomadClientGroup: asgName,
    vmPlacement: {
      VM_SERVICE_SECURITY_GROUP: firewall.vmSecurityGroupId,
      VM_SERVICE_SUBNETS: pulumi.all(network.subnetIds.vms).apply((ids) => ids.join(',')),
    },
    ...(database ? { databaseHost: database.host } : {}),
  });
  const secrets = nomadSecrets(tls, database?.url);
  const flux = new FluxBootstrap(
    'flux',
    {
      environment: env,
      gitUrl: s.flux.gitUrl,
      gitBranch: s.flux.gitBranch,
      ...(s.flux.gitSecretName ? { gitSecretName: s.flux.gitSecretName } : {}),
      chartVersion: s.flux.chartVersion,
      outputs,
      secrets,
    },
    { providers: [k8sProvider] },
  );

  return {
    clusterName,
    clusterEndpoint: cluster.endpoint,
    buckets: storage.names,
    identities: identity.roleArns,
    nomadClientGroup: asgName,
    kustomizationPath: flux.kustomizationPath,
    stackOutputs: pulumi.output(outputs),
    nomadCaPem: tls.caPem,
  };
}
