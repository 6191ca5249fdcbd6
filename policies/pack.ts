/**
 * The CrossGuard policy pack: `pulumi preview|up --policy-pack policies`. Constructing the pack starts
 * the analyzer's gRPC server, so this file does nothing else; the rules live in rules.ts.
 */
import { PolicyPack } from '@pulumi/policy';
import { RESOURCE_RULES, STACK_RULES } from './rules.js';

new PolicyPack('roundhouse', { policies: [...RESOURCE_RULES, ...STACK_RULES] });
