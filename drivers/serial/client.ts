// Client of serial drivers (upstream's PySerialClient): a console for people
// (`j serial start-console`), a pipe for scripts (`j serial pipe`) and an expect-style session
// for tests.

import process from "node:process";
import { DriverClient, stdioDuplex, type Verb } from "../framework/mod.ts";
import { SerialConsole } from "./console.ts";

/** The key that leaves `start-console`: Ctrl-] (as telnet), pressed once. */
export const ESCAPE_BYTE = 0x1d;

/**
 * A serial port next to the exporter.
 *
 * @example
 * ```ts
 * await using console = await (dut.root.child("serial") as SerialClient).open();
 * await console.expect("login:");
 * ```
 */
export class SerialClient extends DriverClient {
  /** Opens an expect-style session on the port. */
  async open(options: { signal?: AbortSignal } = {}): Promise<SerialConsole> {
    return new SerialConsole(await this.openStream("connect", options));
  }

  override verbs(): Verb[] {
    return [
      {
        name: "start-console",
        summary: "Interactive console on the port; Ctrl-] leaves",
        usage: "",
        run: async (_args, io) => {
          if (!process.stdin.isTTY) {
            throw new Error("start-console needs a terminal; use `pipe` from scripts");
          }
          const call = await this.openStream("connect");
          io.stderr(`connected to ${this.name}; press Ctrl-] to leave\r\n`);
          process.stdin.setRawMode(true);
          const restore = () => process.stdin.setRawMode(false);
          process.once("exit", restore);
          const output = (async () => {
            for await (const chunk of call.stream) process.stdout.write(chunk);
          })();
          try {
            for await (const chunk of process.stdin.iterator({ destroyOnReturn: false })) {
              const bytes = chunk as Uint8Array;
              const escape = bytes.indexOf(ESCAPE_BYTE);
              if (escape >= 0) {
                if (escape > 0) await call.stream.send(bytes.subarray(0, escape));
                break;
              }
              await call.stream.send(bytes);
            }
            await call.stream.close();
            await output.catch(() => {});
            await call.done;
          } catch (err) {
            throw this.callError("connect", err);
          } finally {
            restore();
            process.off("exit", restore);
            process.stdin.pause();
            io.stderr("\r\ndisconnected\r\n");
          }
        },
      },
      {
        name: "pipe",
        summary: "Pipe standard input and output to the port (for scripts)",
        usage: "",
        run: () => this.pipe("connect", stdioDuplex()),
      },
    ];
  }
}
