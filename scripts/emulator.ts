/** `npm run emulator -- [--port N] [--seed N] …`: runs `dynamics-odata emulator` from source. */
import { run } from '../src/cli/emulator';

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`dynamics-odata emulator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
