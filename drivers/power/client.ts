// Client of power drivers (upstream's PowerClient): on, off, cycle, read.

import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { DriverClient, type Verb } from "../framework/mod.ts";
import type { PowerReading } from "./power_driver.ts";

/**
 * Switches a device's power.
 *
 * @example
 * ```ts
 * const power = exporter.root.child("power") as PowerClient;
 * await power.cycle(1);
 * ```
 */
export class PowerClient extends DriverClient {
  /** Turns the power on. */
  async on(): Promise<void> {
    await this.call("on");
  }

  /** Turns the power off. */
  async off(): Promise<void> {
    await this.call("off");
  }

  /** Off, wait `waitSeconds`, on (done on the client side, as upstream does). */
  async cycle(waitSeconds = 2): Promise<void> {
    await this.off();
    await sleep(waitSeconds * 1000);
    await this.on();
  }

  /** The meter's readings, as the driver streams them. */
  async *read(options: { signal?: AbortSignal } = {}): AsyncGenerator<PowerReading> {
    for await (const item of this.streamingCall("read", [], options)) {
      const reading = item as Partial<PowerReading> | null;
      yield { voltage: Number(reading?.voltage ?? NaN), current: Number(reading?.current ?? NaN) };
    }
  }

  override verbs(): Verb[] {
    return [
      {
        name: "on",
        summary: this.methodsDescription.on ?? "Turn the power on",
        usage: "",
        run: async (_args, io) => {
          await this.on();
          io.stdout("power on\n");
        },
      },
      {
        name: "off",
        summary: this.methodsDescription.off ?? "Turn the power off",
        usage: "",
        run: async (_args, io) => {
          await this.off();
          io.stdout("power off\n");
        },
      },
      {
        name: "cycle",
        summary: "Turn the power off, wait, and on again",
        usage: "[-w SECONDS]",
        options: [{ flags: "-w, --wait SECONDS", summary: "time to stay off (default 2)" }],
        run: async (args, io) => {
          const { values } = parseArgs({
            args,
            options: { wait: { type: "string", short: "w", default: "2" } },
          });
          const wait = Number(values.wait);
          if (!Number.isFinite(wait) || wait < 0) {
            throw new Error(`--wait must be a number of seconds, got "${values.wait}"`);
          }
          await this.off();
          io.stdout("power off\n");
          await sleep(wait * 1000);
          await this.on();
          io.stdout("power on\n");
        },
      },
      {
        name: "read",
        summary: this.methodsDescription.read ?? "Print power readings",
        usage: "[-o text|json]",
        options: [{ flags: "-o, --output FORMAT", summary: "text (default) or json lines" }],
        run: async (args, io) => {
          const { values } = parseArgs({
            args,
            options: { output: { type: "string", short: "o", default: "text" } },
          });
          if (values.output !== "text" && values.output !== "json") {
            throw new Error(`--output must be text or json, got "${values.output}"`);
          }
          for await (const r of this.read()) {
            io.stdout(
              values.output === "json"
                ? `${JSON.stringify(r)}\n`
                : `${r.voltage.toFixed(3)} V  ${r.current.toFixed(3)} A\n`,
            );
          }
        },
      },
    ];
  }
}
