#!/usr/bin/env node
/**
 * `dynamics-odata <command>`: the command-line entry point. Each subcommand lives in its own
 * module and is loaded only when asked for, so `emulator` does not load the code generator.
 */
/** What each `src/cli/<command>.ts` exports. */
export interface CommandModule {
  run(argv: string[]): Promise<number>;
}

/* eslint-disable @typescript-eslint/no-require-imports -- lazy loading keeps `emulator` from loading the generator */
const commands: Record<string, { summary: string; load: () => CommandModule }> = {
  emulator: { summary: 'start the local Entra ID + Dataverse Web API emulator', load: () => require('./emulator') as CommandModule },
  generate: { summary: 'generate typed models from $metadata', load: () => require('./generate') as CommandModule },
  demo: { summary: 'run the guided tour (against the embedded emulator, or --url)', load: () => require('./demo') as CommandModule },
};

function usage(): string {
  return [
    'usage: dynamics-odata <command> [options]',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`),
    '',
    'Run `dynamics-odata <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`dynamics-odata: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  const mod = command.load();
  return mod.run(rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`dynamics-odata: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
