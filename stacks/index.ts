/**
 * The Pulumi program (`main: stacks/` in Pulumi.yaml). Reads the stack's configuration, validates all of
 * it before declaring anything, and runs the composition of the configured cloud. The named exports are
 * the stack outputs.
 */
import * as pulumi from '@pulumi/pulumi';
import { deployAws } from './aws/index.js';
import { readSettings } from './config.js';
import { deployGcp } from './gcp/index.js';

const settings = readSettings((key) => {
  const at = key.indexOf(':');
  return new pulumi.Config(key.slice(0, at)).get(key.slice(at + 1));
}, pulumi.getStack());

const deployed = settings.cloud === 'aws' ? deployAws(settings) : deployGcp(settings);

export const cloud = settings.cloud;
export const environment = settings.environment;
export const clusterName = deployed.clusterName;
export const clusterEndpoint = deployed.clusterEndpoint;
export const buckets = deployed.buckets;
export const identities = deployed.identities;
export const nomadClientGroup = deployed.nomadClientGroup;
export const kustomizationPath = deployed.kustomizationPath;
export const stackOutputs = deployed.stackOutputs;
export const nomadCaPem = deployed.nomadCaPem;
