/**
 * What the benchmark and the profiler measure: the library as users install it (the compiled
 * `dist/`), built against the emulator the orchestrator started. `src/` is the fallback when run by
 * hand without a build.
 *
 * Why `dist/` and not tsx: tsx adds a helper call to every closure, which costs 10–20 µs per request
 * that dynamics-web-api (plain JS) does not pay. `npm run bench` and `npm run profile` build first.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const distEntry = path.resolve(__dirname, '../../dist/index.js');
/** Whether the compiled library is what runs (false: the TypeScript sources through tsx). */
export const fromDist = existsSync(distEntry);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const library = require(fromDist ? distEntry : '../../src') as typeof import('../../src');
export const { DynamicsClient, DynamicsService } = library;
export type DynamicsClient = import('../../src').DynamicsClient;
export type DynamicsService = import('../../src').DynamicsService;

/** Where the emulator is and who may call it. */
export interface Target {
  url: string;
  apiUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
  caFile: string;
}

/** A client as a user builds one: MSAL client credentials, the emulator's CA. */
export function newClient(t: Target, ca: string): DynamicsClient {
  return new DynamicsClient({ url: t.url, ca, auth: { tokenUrl: t.tokenUrl, clientId: t.clientId, clientSecret: t.clientSecret } });
}

/** The drop-in service configured from `DYNAMICS_*` variables, as an `@edirect/dynamics` user has them. */
export function newService(t: Target): DynamicsService {
  return new DynamicsService({
    env: {
      DYNAMICS_ENABLED: 'true',
      DYNAMICS_TOKEN_URL: t.tokenUrl,
      DYNAMICS_CLIENT_ID: t.clientId,
      DYNAMICS_CLIENT_SECRET: t.clientSecret,
      DYNAMICS_USER_NAME: t.username,
      DYNAMICS_PASSWORD: t.password,
      DYNAMICS_RESOURCE: t.url,
      DYNAMICS_CA_FILE: t.caFile,
    },
  });
}
