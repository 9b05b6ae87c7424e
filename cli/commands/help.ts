// The `help` command: prints the help of the program or of the command named after it.
import { type Command, parseCommandArgs, renderHelp, resolveCommand } from "../command.ts";

/** `<program> help [command...]`: the same text as `<program> [command...] --help`. */
export const helpCommand: Command = {
  name: "help",
  summary: "Show help for the program or a command",
  usage: "[command...]",
  async run(args, ctx) {
    const { positionals } = parseCommandArgs(
      { args, options: {}, allowPositionals: true, strict: true },
      ctx,
    );
    const root = { ...ctx, path: [ctx.root.name] };
    const entry = await resolveCommand(ctx.root, positionals, root);
    ctx.io.stdout(renderHelp(entry, [ctx.root.name, ...positionals]));
    return 0;
  },
};
