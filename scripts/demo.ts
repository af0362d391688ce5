/**
 * `npm run demo`: the guided tour (see src/cli/demo.ts). Needs no configuration: it starts the
 * emulator itself. `npm run demo -- --url https://<org>.crm.dynamics.com` runs the read-only part
 * against a real environment with credentials from the environment.
 */
import { run } from '../src/cli/demo';

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
