// Security type None: nothing to exchange.
import { SecurityType } from '../constants.js';
import type { SecurityHandler } from './index.js';

export class NoneSecurity implements SecurityHandler {
  readonly type = SecurityType.None;
  async authenticate(): Promise<string | undefined> {
    return undefined;
  }
}
