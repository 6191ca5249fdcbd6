/**
 * Nomad client group: a launch template (IMDSv2 only, no public address, encrypted gp3 root volume, the
 * startup script as user data) and an autoscaling group across the nomad subnets. The Nomad autoscaler
 * owns the desired capacity once running, so `pulumi up` leaves it alone.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { nomadClientPolicy, serviceTrust } from '../../policies/aws-iam.js';
import { awsTags } from '../common.js';
import type { Settings } from '../config.js';
import type { NomadTls } from '../nomad/tls.js';

export interface NomadClientsArgs {
  readonly environment: string;
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly nomad: Settings['nomad'];
  readonly asgName: string;
  readonly subnetIds: pulumi.Input<string>[];
  readonly securityGroupId: pulumi.Input<string>;
  readonly storageKeyArn: pulumi.Input<string>;
  readonly tls: NomadTls;
  /** Networks job containers may not reach (cluster subnets). */
  readonly blockedCidrs: readonly string[];
  readonly dnsServer: string;
}

export class NomadClients extends pulumi.ComponentResource {
  readonly asgName: string;
  readonly launchTemplateId: pulumi.Output<string>;

  constructor(name: string, args: NomadClientsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:aws:NomadClients', name, {}, opts);
    const parent = { parent: this };
    const env = args.environment;
    const n = args.nomad;

    const roleName = `roundhouse-${env}-nomad-client`;
    const role = new aws.iam.Role(
      `${name}-role`,
      {
        name: roleName,
        assumeRolePolicy: JSON.stringify(serviceTrust('ec2.amazonaws.com')),
        tags: awsTags(env, 'nomad-client-role'),
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-role`,
      {
        role: role.name,
        name: 'pull-job-images',
        policy: JSON.stringify(nomadClientPolicy(args.partition, args.region, args.accountId)),
      },
      parent,
    );
    const profile = new aws.iam.InstanceProfile(
      `${name}-profile`,
      { name: roleName, role: role.name, tags: awsTags(env, 'nomad-client-profile') },
      parent,
    );

    const script = args.tls.startupScript({
      cloud: 'aws',
      environment: env,
      serverAddress: n.serverAddress,
      datacenter: args.region,
      dockerNetworkCidr: n.dockerNetworkCidr,
      blockedCidrs: args.blockedCidrs,
      dnsServer: args.dnsServer,
      jobVcpus: n.jobCapacity.vcpus,
      jobMemoryGb: n.jobCapacity.memoryGb,
    });

    const instanceTags = awsTags(env, 'nomad-client');
    const template = new aws.ec2.LaunchTemplate(
      `${name}-template`,
      {
        namePrefix: `roundhouse-${env}-nomad-client-`,
        imageId: n.image,
        instanceType: n.machineType,
        iamInstanceProfile: { arn: `arn:${args.partition}:iam::${args.accountId}:instance-profile/${roleName}` },
        // IMDSv2 only, one hop: a container on a bridge network cannot reach the metadata endpoint.
        metadataOptions: { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 1 },
        networkInterfaces: [
          { associatePublicIpAddress: 'false', deleteOnTermination: 'true', securityGroups: [args.securityGroupId] },
        ],
        blockDeviceMappings: [
          {
            deviceName: '/dev/sda1',
            ebs: {
              volumeSize: n.diskGb,
              volumeType: 'gp3',
              encrypted: 'true',
              kmsKeyId: args.storageKeyArn,
              deleteOnTermination: 'true',
            },
          },
        ],
        monitoring: { enabled: true },
        userData: script.apply((s) => Buffer.from(s).toString('base64')),
        tagSpecifications: [
          { resourceType: 'instance', tags: instanceTags },
          { resourceType: 'volume', tags: instanceTags },
        ],
        tags: awsTags(env, 'nomad-client-template'),
      },
      // The script carries the client key (secret already, as the key's PEM is): keep the output secret too.
      { ...parent, dependsOn: [profile], additionalSecretOutputs: ['userData'] },
    );

    new aws.autoscaling.Group(
      `${name}-asg`,
      {
        name: args.asgName,
        vpcZoneIdentifiers: args.subnetIds,
        minSize: n.min,
        maxSize: n.max,
        desiredCapacity: n.min,
        launchTemplate: { id: template.id, version: '$Latest' },
        healthCheckType: 'EC2',
        healthCheckGracePeriod: 300,
        // Stateless clients: a scale-in may pick any, but never one still booting.
        terminationPolicies: ['OldestLaunchTemplate', 'OldestInstance'],
        tags: Object.entries(instanceTags).map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
      },
      { ...parent, ignoreChanges: ['desiredCapacity'] },
    );

    this.asgName = args.asgName;
    this.launchTemplateId = template.id;
    this.registerOutputs({ asgName: this.asgName, launchTemplateId: this.launchTemplateId });
  }
}
