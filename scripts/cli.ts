/**
 * Command-line entry: `npm run cli -- <command> [args...]` (the npm script runs `tsx scripts/cli.ts`).
 *
 * Each command lives in scripts/cli-<name>.ts and is imported only when it runs, so `inspect`
 * never loads WebGPU. To add a command, add a row to COMMANDS. Exit codes: 0 ok, 1 the command
 * failed (its error is printed), 2 unknown command or no command.
 */

interface Command {
  usage: string;
  run(args: string[]): Promise<unknown>;
}

const COMMANDS: Record<string, Command> = {
  inspect: {
    usage: 'inspect FILE.gguf            header, metadata, model config and tensor table as JSON',
    run: async (args) => (await import('./cli-inspect.ts')).inspectCommand(args),
  },
  tokenize: {
    usage: 'tokenize --model FILE.gguf (--text T | --file F) [--special] [--bos]   token ids as a JSON array',
    run: async (args) => (await import('./cli-tokenize.ts')).tokenizeCommand(args),
  },
  generate: {
    usage: 'generate --model FILE.gguf (--prompt TEXT | --prompt-ids 1,2,3) --max-tokens N [--temperature T] [--seed S] [--json]   run the model on WebGPU',
    run: async (args) => (await import('./cli-generate.ts')).generateCommand(args),
  },
  detokenize: {
    usage: 'detokenize --model FILE.gguf --ids 1,2,3    the text of the ids',
    run: async (args) => (await import('./cli-tokenize.ts')).detokenizeCommand(args),
  },
};

function usage(print: (line: string) => void): void {
  print('usage: npm run cli -- <command> [args...]\n\ncommands:');
  for (const c of Object.values(COMMANDS)) print(`  ${c.usage}`);
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    usage(console.log);
    return 0;
  }
  const cmd = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!cmd) {
    if (name !== undefined) console.error(`unknown command "${name}"\n`);
    usage(console.error);
    return 2;
  }
  try {
    await cmd.run(args);
    return 0;
  } catch (e) {
    console.error(e instanceof Error ? `${name}: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : `${name}: ${String(e)}`);
    return 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
