// Asking the user for a value the command line left out, only when someone can answer.

import process from "node:process";
import { createInterface } from "node:readline/promises";
import { CliError } from "./command.ts";

/**
 * The value of `flag` if given; otherwise asks `label` on the terminal, or fails with a CliError
 * naming the flag when there is no terminal (scripts, CI).
 *
 * @example
 * ```ts
 * const endpoint = await valueOrPrompt(values.endpoint, "--endpoint", "Endpoint");
 * ```
 */
export async function valueOrPrompt(
  given: string | undefined,
  flag: string,
  label: string,
): Promise<string> {
  if (given !== undefined && given !== "") return given;
  if (!process.stdin.isTTY) {
    throw new CliError(`${flag} is required (no terminal to ask on)`, 2);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${label}: `)).trim();
    if (answer === "") throw new CliError(`${label.toLowerCase()} is required`, 2);
    return answer;
  } finally {
    rl.close();
  }
}
