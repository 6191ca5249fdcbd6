import { inputsOnlySuite } from './inputs-only.js';

inputsOnlySuite('aws');
