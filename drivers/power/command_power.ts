// Power switched by configured commands: a USB relay tool, uhubctl, a PDU's CLI.

import { resolve } from "node:path";
import type { Fields } from "../../config/mod.ts";
import {
  type CallContext,
  DeviceUnavailableError,
  type Driver,
  type DriverContext,
  DriverError,
  NotImplementedError,
} from "../framework/mod.ts";
import { runToCompletion } from "../shell/mod.ts";
import { powerDriver, type PowerReading } from "./power_driver.ts";

// Exit codes with which a shell says it could not run the command (not executable, not found).
const NOT_RUN = new Set([126, 127]);

// "12.1 0.5" or {"voltage": 12.1, "current": 0.5}
function parseReading(text: string): PowerReading {
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
    const words = trimmed.split(/\s+/);
    if (words.length === 2) [voltage, current] = words.map(Number);
  }
  if (!Number.isFinite(voltage) || !Number.isFinite(current)) {
    // The device's tool answered something else: a failure of the device, not of the caller.
    throw new DriverError(
      `read: expected the read command to print "VOLTAGE CURRENT" or ` +
        `{"voltage": V, "current": A}, got ${JSON.stringify(trimmed.slice(0, 80))}`,
    );
  }
  return { voltage: voltage as number, current: current as number };
}

/**
 * `type: CommandPower`. Config: `on`, `off` (commands), `read` (optional command printing
 * voltage and current, as `12.1 0.5` or `{"voltage": 12.1, "current": 0.5}`), `shell` (default
 * `[sh, -c]`), `timeout` seconds (30), `cwd` (from the config file's folder), `env`.
 *
 * @example
 * ```yaml
 * power:
 *   type: CommandPower
 *   config: { on: "uhubctl -l 1-1 -p 2 -a on", off: "uhubctl -l 1-1 -p 2 -a off" }
 * ```
 */
export function createCommandPower(config: Fields, ctx: DriverContext): Driver {
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

  async function run(name: string, command: string, call: CallContext): Promise<string> {
    const result = await runToCompletion([...shell, command], {
      name,
      cwd,
      env,
      timeoutSeconds,
      signal: call.signal,
    });
    if (result.stderr.trim()) call.log.debug(`${name}: ${result.stderr.trim()}`);
    if (result.code !== 0) {
      const last = result.stderr.trim().split("\n").pop() ?? "";
      const message = `${name}: command exited with ${result.code}${last ? `: ${last}` : ""}`;
      throw NOT_RUN.has(result.code)
        ? new DeviceUnavailableError(message)
        : new DriverError(message);
    }
    return result.stdout;
  }

  return powerDriver({
    description: `Power switched by commands (on: ${commands.on})`,
    setPower: async (on, call) => {
      await run(on ? "on" : "off", on ? commands.on : commands.off, call);
    },
    async *read(call) {
      if (commands.read === undefined) {
        throw new NotImplementedError("this power driver has no read command configured");
      }
      yield parseReading(await run("read", commands.read, call));
    },
  });
}
