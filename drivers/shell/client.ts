// Client of the shell driver (upstream's ShellClient): runs the exporter's configured commands,
// streaming their output; `j <driver> <command> [args]`.

import { DriverClient, type Verb, type VerbIo } from "../framework/mod.ts";

// The driver's own methods; every other described method is a configured command.
const DRIVER_METHODS = new Set(["get_methods", "call_method"]);

/** Where command output goes. */
export interface ShellOutput {
  stdout?(text: string): void;
  stderr?(text: string): void;
}

/**
 * Runs configured commands on the exporter host.
 *
 * @example
 * ```ts
 * const rc = await shell.run("flash", ["image.bin"], { stdout: (t) => console.log(t) });
 * ```
 */
export class ShellClient extends DriverClient {
  /** The configured command names. */
  async getMethods(): Promise<string[]> {
    return (await this.call("get_methods")) as string[];
  }

  /**
   * Runs command `method` with `args` (and extra environment `env`); output goes to `output`
   * as it arrives. Returns the exit code.
   */
  async run(
    method: string,
    args: string[] = [],
    output: ShellOutput = {},
    env: Record<string, string> = {},
  ): Promise<number> {
    let code: number | null = null;
    for await (const item of this.streamingCall("call_method", [method, env, ...args])) {
      const [stdout, stderr, rc] = item as [string, string, number | null];
      if (stdout) output.stdout?.(stdout);
      if (stderr) output.stderr?.(stderr);
      if (typeof rc === "number") code = rc;
    }
    if (code === null) throw new Error(`${this.name}.${method}: the exporter sent no exit code`);
    return code;
  }

  /** One verb per configured command; its exit code is the verb's. */
  override verbs(): Verb[] {
    const commands = Object.entries(this.methodsDescription).filter(([n]) =>
      !DRIVER_METHODS.has(n)
    );
    return commands.map(([name, description]): Verb => ({
      name,
      summary: description,
      usage: "[ARG...]",
      run: (args: string[], io: VerbIo) =>
        this.run(name, args, { stdout: (t) => io.stdout(t), stderr: (t) => io.stderr(t) }),
    }));
  }
}
