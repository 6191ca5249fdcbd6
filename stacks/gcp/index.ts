import type { Settings } from '../config.js';
import type { deployAws } from '../aws/index.js';

export function deployGcp(_s: Settings): ReturnType<typeof deployAws> {
  throw new Error('GCP composition not written yet');
}
