import { inputsOnlySuite } from './inputs-only.js';

inputsOnlySuite('gcp');
