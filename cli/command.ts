// A small command framework shared by the jmp binaries: commands, groups of commands,
// `--help`/`-h` on each of them, and one-line errors with exit codes instead of stack traces.
import process from "node:process";
import { parseArgs, type ParseArgsConfig, type ParseArgsOptionsConfig } from "node:util";

/** Where commands write their output; tests pass their own to capture it. */
export interface Io {
  /** Writes `text` to standard output as is. */
  stdout(text: string): void;
  /** Writes `text` to standard error as is. */
  stderr(text: string): void;
}

/** One line of the "Options:" section of a command's help. */
export interface OptionDoc {
  /** The flags as the user types them, e.g. `-o, --output FORMAT`. */
  flags: string;
  /** What the option does. */
  summary: string;
}

/** What a running command knows about its invocation. */
export interface Context {
  /** The program being run (its top-level group). */
  root: Group;
  /** The words that selected the command, starting with the program name. */
  path: readonly string[];
  /** Where to write output. */
  io: Io;
  /** True when `--debug` was given: errors then come with a stack trace. */
  debug: boolean;
}

/** A command: a name under its group, a one-line summary, a usage line and a `run`. */
export interface Command {
  /** The word that selects the command, e.g. `version`. */
  name: string;
  /** One line for the command lists in help output. */
  summary: string;
  /** What follows the command's name in its usage line, e.g. `[-o text|json]`. */
  usage: string;
  /** The options shown in the command's help; `-h, --help` is added by the framework. */
  options?: readonly OptionDoc[];
  /** The command handles every argument itself, `--help` included (e.g. `jmp j`). */
  passThrough?: boolean;
  /**
   * Runs the command with the arguments after its name; returns the exit code (0 when
   * nothing is returned). Throws a {@linkcode CliError} for failures the user can act on.
   */
  run(args: string[], ctx: Context): number | void | Promise<number | void>;
}

/** A group of commands, e.g. a whole program or `jmp lease`. */
export interface Group {
  /** The word that selects the group, or the program name for a program. */
  name: string;
  /** One line for help output. */
  summary: string;
  /** The commands and subgroups, in the order help lists them. */
  commands: readonly (Command | Group)[];
}

/** A failure the user can act on: printed as one `error:` line, exits with `exitCode`. */
export class CliError extends Error {
  /** The process exit code to use. */
  readonly exitCode: number;

  /** Creates an error whose `message` is printed after `error: `. */
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** A command line that cannot be run as typed (unknown command, bad option): exit code 2. */
export class UsageError extends CliError {
  /** Creates a usage error; `message` should say where to look, see {@linkcode usageError}. */
  constructor(message: string) {
    super(message, 2);
    this.name = "UsageError";
  }
}

/** Builds a {@linkcode UsageError} that points at the help of the command in `ctx`. */
export function usageError(message: string, ctx: Context): UsageError {
  return new UsageError(`${message} (see '${ctx.path.join(" ")} --help')`);
}

/** True when `entry` is a group of commands rather than a command. */
export function isGroup(entry: Command | Group): entry is Group {
  return "commands" in entry;
}

/**
 * Runs `parseArgs(config)` and turns its errors (unknown option, missing value, stray
 * argument) into one-line {@linkcode UsageError}s that point at the command's help.
 */
export function parseCommandArgs<T extends ParseArgsConfig>(
  config: T,
  ctx: Context,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw usageError(describeParseError(err), ctx);
  }
}

function describeParseError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option "${quoted}"`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument "${quoted}"`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return message.includes("argument missing")
        ? `option "${quoted.replace(/ <value>$/, "")}" needs a value`
        : `invalid value for option "${quoted}"`;
    default:
      return message.split("\n")[0];
  }
}

/** The standard output and error of this process. */
export const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

/**
 * Runs `program` with the command-line arguments `argv` (without the executable and
 * script) and returns the exit code: 0 on success, 1 when a command failed, 2 for a
 * command line that cannot be run. Errors are printed as one `error:` line on stderr,
 * followed by the stack trace when `--debug` is given anywhere before `--`.
 */
export async function runProgram(
  program: Group,
  argv: readonly string[],
  io: Io = processIo,
): Promise<number> {
  const end = argv.indexOf("--");
  const flags = end === -1 ? argv : argv.slice(0, end);
  const debug = flags.includes("--debug");
  const args = [
    ...flags.filter((arg) => arg !== "--debug"),
    ...(end === -1 ? [] : argv.slice(end)),
  ];
  const ctx: Context = { root: program, path: [program.name], io, debug };
  try {
    return await dispatch(program, args, ctx);
  } catch (err) {
    return report(err, ctx);
  }
}

function report(err: unknown, ctx: Context): number {
  const stack = err instanceof Error && err.stack ? `${err.stack}\n` : "";
  if (err instanceof CliError) {
    ctx.io.stderr(`error: ${err.message}\n${ctx.debug ? stack : ""}`);
    return err.exitCode;
  }
  const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
  if (ctx.debug) {
    ctx.io.stderr(`error: ${message}\n${stack}`);
  } else {
    ctx.io.stderr(`error: ${message} (run again with --debug for a stack trace)\n`);
  }
  return 1;
}

function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === "--help" || arg === "-h");
}

function hasVersionCommand(group: Group): boolean {
  return group.commands.some((entry) => entry.name === "version" && !isGroup(entry));
}

async function dispatch(entry: Command | Group, args: string[], ctx: Context): Promise<number> {
  if (!isGroup(entry)) {
    if (!entry.passThrough && wantsHelp(args)) {
      ctx.io.stdout(renderHelp(entry, ctx.path));
      return 0;
    }
    return (await entry.run(args, ctx)) ?? 0;
  }

  // Only the flags before the first word belong to the group; the rest is the command's.
  const topLevel = ctx.path.length === 1 && hasVersionCommand(entry);
  const options: ParseArgsOptionsConfig = topLevel
    ? {
      help: { type: "boolean", short: "h" },
      version: { type: "boolean" },
      output: { type: "string", short: "o" },
    }
    : { help: { type: "boolean", short: "h" } };
  const { tokens } = parseArgs({
    args,
    options,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const split = tokens.find((token) => token.kind === "positional")?.index ?? args.length;
  const { values } = parseCommandArgs(
    { args: args.slice(0, split), options, allowPositionals: false, strict: true },
    ctx,
  );

  if (values.help === true) {
    ctx.io.stdout(renderHelp(entry, ctx.path));
    return 0;
  }
  if (values.version === true) {
    const output = typeof values.output === "string" ? ["--output", values.output] : [];
    return await dispatch(findCommand(entry, ["version"], ctx), [...output, ...args.slice(split)], {
      ...ctx,
      path: [...ctx.path, "version"],
    });
  }
  if (values.output !== undefined) {
    throw usageError(
      "--output here only goes with --version; give it after the command instead",
      ctx,
    );
  }
  if (split === args.length) {
    ctx.io.stdout(renderHelp(entry, ctx.path));
    return 0;
  }
  const name = args[split];
  return await dispatch(findCommand(entry, [name], ctx), args.slice(split + 1), {
    ...ctx,
    path: [...ctx.path, name],
  });
}

/** A command or group whose module is imported only when it is used. */
export interface LazyCommand extends Command {
  readonly load: () => Promise<Command | Group>;
}

/**
 * A command or group known by name and summary only, imported on first use: listing a
 * program's commands (or `--version`) then costs nothing for the modules behind them.
 *
 * @example
 * ```ts
 * lazyCommand("admin", "Manage the controller", async () => (await import("./admin.ts")).adminGroup);
 * ```
 */
export function lazyCommand(
  name: string,
  summary: string,
  load: () => Promise<Command | Group>,
): LazyCommand {
  let loaded: Promise<Command | Group> | undefined;
  const once = () => (loaded ??= load());
  return {
    name,
    summary,
    usage: "",
    passThrough: true,
    load: once,
    async run(args, ctx) {
      return await dispatch(await once(), args, ctx);
    },
  };
}

function isLazy(entry: Command | Group): entry is LazyCommand {
  return "load" in entry && typeof (entry as LazyCommand).load === "function";
}

/** Like {@linkcode findCommand}, loading lazy commands on the way (for `help`). */
export async function resolveCommand(
  group: Group,
  names: readonly string[],
  ctx: Context,
): Promise<Command | Group> {
  let entry: Command | Group = group;
  for (let i = 0; i < names.length; i++) {
    entry = findCommand(entry as Group, [names[i]], {
      ...ctx,
      path: [...ctx.path, ...names.slice(0, i)],
    });
    if (isLazy(entry)) entry = await entry.load();
    if (i < names.length - 1 && !isGroup(entry)) {
      throw usageError(`unknown command "${names[i + 1]}"`, {
        ...ctx,
        path: [...ctx.path, ...names.slice(0, i + 1)],
      });
    }
  }
  return isLazy(entry) ? await entry.load() : entry;
}

/**
 * Finds the command or group that the words `names` select under `group`; throws
 * `unknown command "x" (see '<group> --help')` when there is none.
 */
export function findCommand(group: Group, names: readonly string[], ctx: Context): Command | Group {
  let entry: Command | Group = group;
  const path = [...ctx.path];
  for (const name of names) {
    const found: Command | Group | undefined = isGroup(entry)
      ? entry.commands.find((child) => child.name === name)
      : undefined;
    if (found === undefined) {
      throw usageError(`unknown command "${name}"`, { ...ctx, path });
    }
    entry = found;
    path.push(name);
  }
  return entry;
}

function table(rows: readonly [string, string][]): string {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}   ${right}`.trimEnd()).join("\n");
}

/** The help text of `entry`, reached by the words `path` (program name first). */
export function renderHelp(entry: Command | Group, path: readonly string[]): string {
  const name = path.join(" ");
  const help: [string, string] = ["-h, --help", "Show this help"];
  if (!isGroup(entry)) {
    const options = (entry.options ?? []).map((o): [string, string] => [o.flags, o.summary]);
    return [
      `${entry.summary}\n`,
      `Usage:\n  ${`${name} ${entry.usage}`.trimEnd()}\n`,
      `Options:\n${table([...options, help])}\n`,
    ].join("\n");
  }
  const options: [string, string][] = [help];
  if (path.length === 1) {
    if (hasVersionCommand(entry)) {
      options.push(["    --version", "Print the version (with -o json: as JSON)"]);
      options.push(["-o, --output FORMAT", "Output format of --version: text or json"]);
    }
    options.push(["    --debug", "Print a stack trace with errors"]);
  }
  return [
    `${entry.summary}\n`,
    `Usage:\n  ${name} <command> [options]\n`,
    `Commands:\n${table(entry.commands.map((c) => [c.name, c.summary]))}\n`,
    `Options:\n${table(options)}\n`,
    `Run '${name} <command> --help' for more about a command.\n`,
  ].join("\n");
}
