/**
 * EKS for the Roundhouse services: private endpoint always on, public endpoint only for the configured
 * networks, Kubernetes secrets envelope-encrypted with the secrets key, control-plane audit logs on,
 * a managed node group whose nodes require IMDSv2 with one hop (pods cannot borrow the node's role), and
 * the OIDC provider that IRSA roles trust.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import {
  EKS_CLUSTER_MANAGED_POLICIES,
  EKS_NODE_MANAGED_POLICIES,
  managedPolicyArn,
  serviceTrust,
} from '../../policies/aws-iam.js';
import { awsTags, computed } from '../common.js';

export interface ClusterArgs {
  readonly environment: string;
  readonly clusterName: string;
  readonly partition: string;
  readonly accountId: string;
  readonly kubernetesVersion: string;
  readonly subnetIds: pulumi.Input<string>[];
  readonly authorizedCidrs: readonly string[];
  readonly nodeType: string;
  readonly nodeCount: number;
  readonly nodeMax: number;
  readonly secretsKeyArn: pulumi.Input<string>;
  readonly storageKeyArn: pulumi.Input<string>;
}

export class Cluster extends pulumi.ComponentResource {
  readonly name: string;
  readonly endpoint: pulumi.Output<string>;
  readonly caData: pulumi.Output<string>;
  /** The OIDC issuer without `https://`, the prefix of IRSA condition keys. */
  readonly issuerHostPath: pulumi.Output<string>;
  readonly oidcProviderArn: pulumi.Output<string>;
  readonly nodeRoleName: string;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:aws:Cluster', name, {}, opts);
    const parent = { parent: this };
    const env = args.environment;
    const roleArn = (role: string) => `arn:${args.partition}:iam::${args.accountId}:role/${role}`;

    const clusterRoleName = `roundhouse-${env}-eks`;
    const clusterRole = new aws.iam.Role(
      `${name}-cluster`,
      {
        name: clusterRoleName,
        assumeRolePolicy: JSON.stringify(serviceTrust('eks.amazonaws.com')),
        tags: awsTags(env, 'eks-role'),
      },
      parent,
    );
    const clusterAttachments = EKS_CLUSTER_MANAGED_POLICIES.map(
      (p) =>
        new aws.iam.RolePolicyAttachment(
          `${name}-${p}`,
          { role: clusterRole.name, policyArn: managedPolicyArn(args.partition, p) },
          parent,
        ),
    );

    const publicAccess = args.authorizedCidrs.length > 0;
    const cluster = new aws.eks.Cluster(
      name,
      {
        name: args.clusterName,
        version: args.kubernetesVersion,
        roleArn: roleArn(clusterRoleName),
        vpcConfig: {
          subnetIds: args.subnetIds,
          endpointPrivateAccess: true,
          endpointPublicAccess: publicAccess,
          ...(publicAccess ? { publicAccessCidrs: [...args.authorizedCidrs] } : {}),
        },
        encryptionConfig: { resources: ['secrets'], provider: { keyArn: args.secretsKeyArn } },
        enabledClusterLogTypes: ['api', 'audit', 'authenticator'],
        // Access entries only (no aws-auth ConfigMap); whoever runs `pulumi up` administers the cluster.
        accessConfig: { authenticationMode: 'API', bootstrapClusterCreatorAdminPermissions: true },
        tags: awsTags(env, 'eks'),
      },
      { ...parent, dependsOn: clusterAttachments },
    );

    this.nodeRoleName = `roundhouse-${env}-eks-node`;
    const nodeRole = new aws.iam.Role(
      `${name}-node`,
      {
        name: this.nodeRoleName,
        assumeRolePolicy: JSON.stringify(serviceTrust('ec2.amazonaws.com')),
        tags: awsTags(env, 'eks-node-role'),
      },
      parent,
    );
    const nodeAttachments = EKS_NODE_MANAGED_POLICIES.map(
      (p) =>
        new aws.iam.RolePolicyAttachment(
          `${name}-${p}`,
          { role: nodeRole.name, policyArn: managedPolicyArn(args.partition, p) },
          parent,
        ),
    );

    const nodeTemplate = new aws.ec2.LaunchTemplate(
      `${name}-nodes`,
      {
        namePrefix: `roundhouse-${env}-eks-node-`,
        metadataOptions: { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 1 },
        blockDeviceMappings: [
          {
            deviceName: '/dev/xvda',
            ebs: {
              volumeSize: 80,
              volumeType: 'gp3',
              encrypted: 'true',
              kmsKeyId: args.storageKeyArn,
              deleteOnTermination: 'true',
            },
          },
        ],
        tagSpecifications: [
          { resourceType: 'instance', tags: awsTags(env, 'eks-node') },
          { resourceType: 'volume', tags: awsTags(env, 'eks-node') },
        ],
        tags: awsTags(env, 'eks-node-template'),
      },
      parent,
    );

    new aws.eks.NodeGroup(
      `${name}-nodes`,
      {
        clusterName: cluster.name.apply((n) => n ?? args.clusterName),
        nodeGroupName: `roundhouse-${env}`,
        nodeRoleArn: roleArn(this.nodeRoleName),
        subnetIds: args.subnetIds,
        instanceTypes: [args.nodeType],
        amiType: 'AL2023_x86_64_STANDARD',
        scalingConfig: { minSize: args.nodeCount, desiredSize: args.nodeCount, maxSize: args.nodeMax },
        updateConfig: { maxUnavailable: 1 },
        launchTemplate: { id: nodeTemplate.id, version: computed(nodeTemplate.latestVersion, 1).apply(String) },
        tags: awsTags(env, 'eks-nodes'),
      },
      // A cluster autoscaler changes the desired size; a later `pulumi up` must not reset it.
      { ...parent, dependsOn: nodeAttachments, ignoreChanges: ['scalingConfig.desiredSize'] },
    );

    const issuer = computed(
      cluster.identities.apply((ids) => ids?.[0]?.oidcs?.[0]?.issuer),
      `https://oidc.eks.unknown/id/${args.clusterName}`,
    );
    new aws.iam.OpenIdConnectProvider(
      `${name}-oidc`,
      { url: issuer, clientIdLists: ['sts.amazonaws.com'], tags: awsTags(env, 'eks-oidc') },
      parent,
    );

    this.name = args.clusterName;
    this.endpoint = computed(cluster.endpoint, '');
    this.caData = computed(
      cluster.certificateAuthority.apply((ca) => ca?.data),
      '',
    );
    this.issuerHostPath = issuer.apply((u) => u.replace(/^https:\/\//, ''));
    this.oidcProviderArn = pulumi.interpolate`arn:${args.partition}:iam::${args.accountId}:oidc-provider/${this.issuerHostPath}`;
    this.registerOutputs({ name: this.name, endpoint: this.endpoint, oidcProviderArn: this.oidcProviderArn });
  }
}
