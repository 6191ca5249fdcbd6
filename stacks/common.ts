/** Names, tags and labels every component uses, and small Output helpers. */
import * as pulumi from '@pulumi/pulumi';
import type { BucketPurpose } from '../policies/access.js';
import {
  ENVIRONMENT_LABEL,
  ENVIRONMENT_TAG,
  MANAGED_BY_LABEL,
  MANAGED_BY_TAG,
  STACK_MANAGED_BY,
} from '../policies/tags.js';
import type { Settings } from './config.js';

/** AWS tags on every taggable resource: the owner, the environment, and a readable Name. */
export function awsTags(env: string, name: string): Record<string, string> {
  return { Name: `${env}-${name}`, [MANAGED_BY_TAG]: STACK_MANAGED_BY, [ENVIRONMENT_TAG]: env };
}

/** GCP labels on every labelled resource (label keys and values are lowercase). */
export function gcpLabels(env: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: STACK_MANAGED_BY, [ENVIRONMENT_LABEL]: env };
}

/** Days a replaced or deleted version of a versioned object (audit, backups) is kept. */
export const NONCURRENT_VERSION_DAYS = 90;
/** Days before an unfinished multipart upload is discarded. */
export const ABORT_MULTIPART_DAYS = 7;

export const bucketName = (s: Settings, purpose: BucketPurpose) => `${s.storage.bucketPrefix}-${purpose}`;

/**
 * Reads a property the cloud computes (an issuer URL, a certificate) with a fallback. Under unit-test
 * mocks such properties are absent; planning must not crash on them.
 */
export function computed<T>(value: pulumi.Input<T | undefined>, fallback: T): pulumi.Output<T> {
  return pulumi.output(value).apply((v) => (v === undefined || v === null ? fallback : (v as T)));
}
