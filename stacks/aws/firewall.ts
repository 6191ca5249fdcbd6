/**
 * Security groups of the build fleet, after the hardening guide:
 * - Nomad clients: 4646–4648 (tcp, udp) only from inside the VPC; "rerun with SSH" 64535–65535 only
 *   from the configured networks; nothing else inbound.
 * - VM-service VMs: 22 (SSH) and 2376 (remote Docker) only from the Nomad clients' group; 54782 (SSH
 *   into VM jobs) only from the configured networks.
 * Outbound is open (package mirrors, registries, VCS). Nothing is open to 0.0.0.0/0 unless an operator
 * lists it in roundhouse:sshRerunCidrs.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { awsTags } from '../common.js';
import { NOMAD_PORTS, SSH_RERUN_PORTS, VM_DOCKER_PORT, VM_SSH_PORT, VM_SSH_RERUN_PORT } from '../ports.js';

export interface FleetFirewallArgs {
  readonly environment: string;
  readonly vpcId: pulumi.Input<string>;
  readonly vpcCidr: string;
  readonly sshRerunCidrs: readonly string[];
}

export class FleetFirewall extends pulumi.ComponentResource {
  readonly nomadSecurityGroupId: pulumi.Output<string>;
  readonly vmSecurityGroupId: pulumi.Output<string>;

  constructor(name: string, args: FleetFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:aws:FleetFirewall', name, {}, opts);
    const parent = { parent: this };
    const env = args.environment;
    const group = (id: string, description: string) =>
      new aws.ec2.SecurityGroup(
        `${name}-${id}`,
        { name: `roundhouse-${env}-${id}`, description, vpcId: args.vpcId, tags: awsTags(env, id) },
        parent,
      );
    const nomad = group('nomad-clients', 'Roundhouse Nomad clients');
    const vms = group('vm-service-vms', 'Roundhouse VM-service VMs (machine and remote Docker jobs)');

    const ingress = (
      id: string,
      sg: aws.ec2.SecurityGroup,
      rule: { protocol: 'tcp' | 'udp'; from: number; to: number; description: string } & (
        | { cidr: string }
        | { fromGroup: pulumi.Input<string> }
      ),
    ) =>
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-${id}`,
        {
          securityGroupId: sg.id,
          ipProtocol: rule.protocol,
          fromPort: rule.from,
          toPort: rule.to,
          description: rule.description,
          ...('cidr' in rule ? { cidrIpv4: rule.cidr } : { referencedSecurityGroupId: rule.fromGroup }),
          tags: awsTags(env, id),
        },
        parent,
      );

    for (const protocol of ['tcp', 'udp'] as const) {
      ingress(`nomad-${protocol}-from-vpc`, nomad, {
        protocol,
        ...NOMAD_PORTS,
        cidr: args.vpcCidr,
        description: 'Nomad HTTP, RPC and Serf from inside the VPC',
      });
    }
    args.sshRerunCidrs.forEach((cidr, i) => {
      ingress(`nomad-ssh-rerun-${i}`, nomad, {
        protocol: 'tcp',
        ...SSH_RERUN_PORTS,
        cidr,
        description: 'Rerun job with SSH',
      });
      ingress(`vm-ssh-rerun-${i}`, vms, {
        protocol: 'tcp',
        from: VM_SSH_RERUN_PORT,
        to: VM_SSH_RERUN_PORT,
        cidr,
        description: 'SSH into machine jobs',
      });
    });
    ingress('vm-ssh-from-nomad', vms, {
      protocol: 'tcp',
      from: VM_SSH_PORT,
      to: VM_SSH_PORT,
      fromGroup: nomad.id,
      description: 'Nomad clients drive VM jobs over SSH',
    });
    ingress('vm-docker-from-nomad', vms, {
      protocol: 'tcp',
      from: VM_DOCKER_PORT,
      to: VM_DOCKER_PORT,
      fromGroup: nomad.id,
      description: 'Nomad clients reach remote Docker engines',
    });

    for (const [id, sg] of [
      ['nomad', nomad],
      ['vm', vms],
    ] as const) {
      new aws.vpc.SecurityGroupEgressRule(
        `${name}-${id}-egress`,
        {
          securityGroupId: sg.id,
          ipProtocol: '-1',
          cidrIpv4: '0.0.0.0/0',
          description: 'Outbound',
          tags: awsTags(env, `${id}-egress`),
        },
        parent,
      );
    }

    this.nomadSecurityGroupId = nomad.id;
    this.vmSecurityGroupId = vms.id;
    this.registerOutputs({
      nomadSecurityGroupId: this.nomadSecurityGroupId,
      vmSecurityGroupId: this.vmSecurityGroupId,
    });
  }
}
