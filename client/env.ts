// The exporter of the surrounding `jmp shell`, for scripts and tests: upstream's env() helper.

import process from "node:process";
import { configuredAllowList } from "./allow_list.ts";
import { connectExporter, type ConnectOptions, type ExporterConnection } from "./connect.ts";

/** Variable `jmp shell` sets to the exporter's address. */
export const HOST_ENV = "JUMPSTARTER_HOST";

/** Thrown outside a `jmp shell`. */
export class NotInShellError extends Error {
  /** Creates the error. */
  constructor() {
    super(
      `${HOST_ENV} is not set: run this inside \`jmp shell\` (or set it to an exporter's socket)`,
    );
    this.name = "NotInShellError";
  }
}

/**
 * Connects to the exporter of the surrounding `jmp shell` (`JUMPSTARTER_HOST`), with the
 * allow-list of `JMP_DRIVERS_ALLOW` or, without it, of the current client config.
 *
 * @example
 * ```ts
 * Deno.test("the board boots", async () => {
 *   await using dut = await env();
 *   await dut.root.child("power").call("on");
 * });
 * ```
 */
export async function env(options: ConnectOptions = {}): Promise<ExporterConnection> {
  const host = process.env[HOST_ENV];
  if (!host) throw new NotInShellError();
  return await connectExporter(host, {
    allow: await configuredAllowList(process.env),
    ...options,
  });
}
