// Power switched by configured commands: a USB relay tool, uhubctl, a PDU's CLI.

import { resolve } from "node:path";
import {
  DriverError,
  type DriverFactory,
  InvalidArgumentError,
  NotImplementedError,
} from "../framework/mod.ts";
import { runToCompletion } from "../shell/mod.ts";
import { powerDriver, type PowerReading } from "./power_driver.ts";

// "12.1 0.5" or {"voltage": 12.1, "current": 0.5}
function parseReading(name: string, text: string): PowerReading {
  const trimmed = text.trim();
  let voltage: unknown;
  let current: unknown;
  if (trimmed.startsWith("{")) {
    try {
      ({ voltage, current } = JSON.parse(trimmed));
    } catch {
      // reported below
    }
  } else {
    [voltage, current] = trimmed.split(/\s+/).map(Number);
  }
  if (
    typeof voltage !== "number" || typeof current !== "number" || isNaN(voltage) || isNaN(current)
  ) {
    throw new InvalidArgumentError(
      `${name}: expected "VOLTAGE CURRENT" or {"voltage":..,"current":..}, got ${
        JSON.stringify(trimmed.slice(0, 80))
      }`,
    );
  }
  return { voltage, current };
}

/**
 * `type: CommandPower`. Config: `on`, `off` (commands), `read` (optional command printing
 * voltage and current), `shell` (default `[sh, -c]`), `timeout` seconds (30), `cwd`, `env`.
 *
 * @example
 * ```yaml
 * power:
 *   type: CommandPower
 *   config: { on: "uhubctl -l 1-1 -p 2 -a on", off: "uhubctl -l 1-1 -p 2 -a off" }
 * ```
 */
export const createCommandPower: DriverFactory = (config, ctx) => {
  const commands = {
    on: config.string("on", { nonEmpty: true }),
    off: config.string("off", { nonEmpty: true }),
    read: config.optionalString("read"),
  };
  const shell = config.has("shell") ? config.stringList("shell") : ["sh", "-c"];
  if (shell.length === 0) throw config.error("shell", "must name a program, e.g. [sh, -c]");
  const timeoutSeconds = config.number("timeout", { default: 30, min: 0 });
  const cwd = config.has("cwd") ? resolve(ctx.baseDir, config.string("cwd")) : undefined;
  const env = config.stringMap("env");

  const run = async (name: string, command: string, signal: AbortSignal) => {
    const result = await runToCompletion([...shell, command], {
      name,
      cwd,
      env,
      timeoutSeconds,
      signal,
    });
    if (result.code !== 0) {
      const last = result.stderr.trim().split("\n").pop() ?? "";
      throw new DriverError(
        `${name}: command exited with ${result.code}${last ? `: ${last}` : ""}`,
      );
    }
    return result.stdout;
  };

  return powerDriver({
    description: `Power switched by commands (on: ${commands.on})`,
    setPower: async (on, call) => {
      await run(on ? "on" : "off", on ? commands.on : commands.off, call.signal);
    },
    async *read(call) {
      if (commands.read === undefined) {
        throw new NotImplementedError("this power driver has no read command configured");
      }
      yield parseReading("read", await run("read", commands.read, call.signal));
    },
  });
};
