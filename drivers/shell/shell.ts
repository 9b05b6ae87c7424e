// Upstream's Shell driver: named commands configured on the exporter, run with arguments the
// client passes, output streamed back as it comes, exit code last.

import { resolve } from "node:path";
import type { Fields } from "../../config/mod.ts";
import {
  Args,
  type Driver,
  type DriverFactory,
  InvalidArgumentError,
  type JsonValue,
  streaming,
  unary,
} from "../framework/mod.ts";
import { runCommand } from "./run_command.ts";

/** The client class name upstream reports for Shell. */
export const SHELL_CLIENT = "jumpstarter_driver_shell.client.ShellClient";

/** One configured command. */
export interface ShellMethod {
  readonly name: string;
  readonly command: string;
  readonly description: string;
  readonly timeoutSeconds: number;
}

function readMethods(config: Fields, defaultTimeout: number): ShellMethod[] {
  const methods = config.mapping("methods");
  const names = methods.keys();
  if (names.length === 0) {
    throw config.error("methods", "is required: a mapping of command names to shell commands");
  }
  return names.map((name) => {
    const raw = methods.raw(name);
    if (typeof raw === "string") {
      return { name, command: raw, description: raw, timeoutSeconds: defaultTimeout };
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw methods.error(
        name,
        "must be a command string or a mapping with command, description, timeout",
      );
    }
    const entry = methods.mapping(name);
    const command = entry.string("command", { nonEmpty: true });
    const method = {
      name,
      command,
      description: entry.string("description", { default: command }),
      timeoutSeconds: entry.number("timeout", { default: defaultTimeout, min: 0 }),
    };
    entry.done();
    return method;
  });
}

/**
 * `type: Shell`. Config: `methods` (name → command, or `{command, description, timeout}`),
 * `shell` (default `["bash", "-c"]`), `timeout` seconds (default 300), `cwd`, `env`.
 * A command runs as `shell + [command, name, ...args]`, so it sees its arguments as `$1...`.
 *
 * @example
 * ```yaml
 * shell:
 *   type: Shell
 *   config:
 *     methods:
 *       flash: { command: 'flashrom -w "$1"', description: Flash an image, timeout: 600 }
 * ```
 */
export const createShell: DriverFactory = (config, ctx): Driver => {
  const timeout = config.number("timeout", { default: 300, min: 0 });
  const methods = readMethods(config, timeout);
  const shell = config.has("shell") ? config.stringList("shell") : ["bash", "-c"];
  if (shell.length === 0) throw config.error("shell", "must name a program, e.g. [bash, -c]");
  const cwd = config.has("cwd") ? resolve(ctx.baseDir, config.string("cwd")) : undefined;
  const env = config.stringMap("env");
  const byName = new Map(methods.map((m) => [m.name, m]));

  return {
    client: SHELL_CLIENT,
    description: `Shell commands: ${methods.map((m) => m.name).join(", ")}`,
    methodsDescription: Object.fromEntries(methods.map((m) => [m.name, m.description])),
    methods: {
      get_methods: unary("List the configured commands", (args) => {
        new Args("get_methods", args, 0);
        return methods.map((m) => m.name);
      }),
      call_method: streaming(
        "Run a configured command: call_method(method, env, *args)",
        async function* (args: JsonValue[], call) {
          const a = new Args("call_method", args, Infinity);
          const name = a.string(0, "method");
          const method = byName.get(name);
          if (!method) {
            throw new InvalidArgumentError(
              `no command "${name}" (configured: ${methods.map((m) => m.name).join(", ")})`,
            );
          }
          const extraEnv = a.length > 1 ? a.object(1, "env", {}) : {};
          const callEnv = Object.fromEntries(
            Object.entries(extraEnv).map((
              [k, v],
            ) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
          );
          call.log.info(`running ${name}`);
          for await (
            const event of runCommand([...shell, method.command, name, ...a.strings(2, "args")], {
              name,
              cwd,
              env: { ...env, ...callEnv },
              timeoutSeconds: method.timeoutSeconds,
              signal: call.signal,
            })
          ) {
            if (event.kind === "exit") yield ["", "", event.code];
            else if (event.kind === "stdout") yield [event.text, "", null];
            else yield ["", event.text, null];
          }
        },
      ),
    },
  };
};
