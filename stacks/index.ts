/**
 * The Pulumi program (`main: stacks/` in Pulumi.yaml). Reads the stack's configuration, validates all of
 * it before declaring anything, and runs the composition of the configured cloud. The named exports are
 * the stack outputs.
 */
import * as pulumi from '@pulumi/pulumi';
import { readSettings } from './config.js';

const settings = readSettings((key) => {
  const at = key.indexOf(':');
  return new pulumi.Config(key.slice(0, at)).get(key.slice(at + 1));
}, pulumi.getStack());

// Only the configured cloud's provider SDK is loaded.
const deployed =
  settings.cloud === 'aws'
    ? (await import('./aws/index.js')).deployAws(settings)
    : (await import('./gcp/index.js')).deployGcp(settings);

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
