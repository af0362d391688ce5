/**
 * The emulator the bench and the profiler measure against, compiled (`dist/`) when it is built, as
 * `npm run emulator` users get it: through tsx, every closure of the sources gets a naming helper
 * that costs the emulator CPU on every request, and the emulator shares the machine's two cores with
 * the clients, so its cost is in every wall time. `src/` is the fallback when run by hand without a build.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const distEntry = path.resolve(__dirname, '../../dist/emulator/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const emulator = require(existsSync(distEntry) ? distEntry : '../../src/emulator') as typeof import('../../src/emulator');
export const { startEmulator } = emulator;
export type Emulator = import('../../src/emulator').Emulator;
