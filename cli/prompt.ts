// Asking the user for values the command line left out, only when someone can answer.

import process from "node:process";
import { createInterface, type Interface } from "node:readline";
import { CliError } from "./command.ts";

/**
 * Fills in missing values from the terminal, in order. One line reader serves all questions,
 * so answers typed (or pasted) ahead are not lost between them. Close it when done.
 *
 * @example
 * ```ts
 * const prompts = new Prompter();
 * try {
 *   const endpoint = await prompts.valueOrAsk(values.endpoint, "--endpoint", "Endpoint");
 * } finally {
 *   prompts.close();
 * }
 * ```
 */
export class Prompter {
  #rl: Interface | undefined;
  #lines: AsyncIterator<string> | undefined;

  /**
   * `given` if set; otherwise asks `label` on the terminal, or fails with a CliError naming
   * `flag` when there is no terminal (scripts, CI).
   */
  async valueOrAsk(given: string | undefined, flag: string, label: string): Promise<string> {
    if (given !== undefined && given !== "") return given;
    if (!process.stdin.isTTY) throw new CliError(`${flag} is required (no terminal to ask on)`, 2);
    if (!this.#lines) {
      this.#rl = createInterface({ input: process.stdin, terminal: false });
      this.#lines = this.#rl[Symbol.asyncIterator]();
    }
    process.stderr.write(`${label}: `);
    const { value, done } = await this.#lines.next();
    const answer = done ? "" : String(value).trim();
    if (answer === "") throw new CliError(`${label.toLowerCase()} is required`, 2);
    return answer;
  }

  /** Lets go of the terminal. */
  close(): void {
    this.#rl?.close();
  }
}

/**
 * `--endpoint` and `--token` as given, asking on the terminal for the missing ones (the
 * configuration document's `Endpoint:` / `Token:` prompts).
 */
export async function endpointAndToken(
  values: { endpoint?: string; token?: string },
): Promise<{ endpoint: string; token: string }> {
  const prompts = new Prompter();
  try {
    const endpoint = await prompts.valueOrAsk(values.endpoint, "--endpoint", "Endpoint");
    const token = await prompts.valueOrAsk(values.token, "--token", "Token");
    return { endpoint, token };
  } finally {
    prompts.close();
  }
}
