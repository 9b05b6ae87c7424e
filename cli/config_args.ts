// What the configuration commands share: the NAME argument and one-line config errors.

import { ConfigError, validateAlias } from "../config/mod.ts";
import { CliError, type Context, parseCommandArgs, usageError } from "./command.ts";

/** The single NAME positional of a config command, checked as a file alias. */
export function aliasArg(positionals: string[], ctx: Context, what: string): string {
  if (positionals.length !== 1) throw usageError(`give one ${what} NAME`, ctx);
  try {
    validateAlias(positionals[0]);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  return positionals[0];
}

/** The arguments of a command that takes only a NAME. */
export function nameOnly(args: string[], ctx: Context, what: string): string {
  const { positionals } = parseCommandArgs(
    { args, options: {}, allowPositionals: true, strict: true },
    ctx,
  );
  return aliasArg(positionals, ctx, what);
}

/**
 * Runs `step`; a ConfigError becomes a CliError, printed as one line without a stack: config
 * problems are the user's to fix.
 *
 * @example
 * ```ts
 * const config = await configStep(() => loadExporterConfig(file));
 * ```
 */
export async function configStep<T>(step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}
