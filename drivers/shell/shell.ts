// Upstream's Shell driver: named commands configured on the exporter, run with arguments the
// client passes, output streamed back as it comes, exit code last.

import { resolve } from "node:path";
import type { Fields } from "../../config/mod.ts";
import {
  Args,
  type Driver,
  type DriverContext,
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
  /** Its help text: the configured description, else the command's first line. */
  readonly description: string;
  readonly timeoutSeconds: number;
}

/** A Shell driver, with the commands it was configured with. */
export interface ShellDriver extends Driver {
  /** The configured commands in config order; their descriptions are also in `methodsDescription`. */
  readonly commands: readonly ShellMethod[];
}

// What upstream accepts as an environment variable name (a Python identifier, ASCII here).
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function readMethods(config: Fields, defaultTimeout: number): ShellMethod[] {
  if (!config.has("methods")) {
    throw config.error("methods", "is required: a mapping of command names to shell commands");
  }
  const methods = config.mapping("methods");
  const names = methods.keys();
  if (names.length === 0) {
    throw config.error("methods", "must name at least one command, e.g. {hello: 'echo hello'}");
  }
  return names.map((name) => {
    const raw = methods.raw(name);
    if (typeof raw === "string") {
      const command = methods.string(name, { nonEmpty: true });
      const description = command.trim().split("\n")[0];
      return { name, command, description, timeoutSeconds: defaultTimeout };
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
      description: entry.string("description", { default: command.trim().split("\n")[0] }),
      timeoutSeconds: entry.number("timeout", { default: defaultTimeout, min: 0 }),
    };
    entry.done();
    return method;
  });
}

// call_method's `env` argument: a mapping (or null) of variable names to values.
function callEnv(a: Args): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(a.object(1, "env", {}))) {
    if (!ENV_NAME.test(key)) {
      throw new InvalidArgumentError(`call_method(): invalid environment variable name "${key}"`);
    }
    if (typeof value === "string") env[key] = value;
    else if (typeof value === "number" || typeof value === "boolean") env[key] = String(value);
    else {
      throw new InvalidArgumentError(
        `call_method(): env.${key} must be a string, got ${JSON.stringify(value)}`,
      );
    }
  }
  return env;
}

/**
 * `type: Shell`. Config: `methods` (name → command, or `{command, description, timeout}`),
 * `shell` (default `["bash", "-c"]`), `timeout` seconds (default 300), `cwd` (from the config
 * file's folder), `env`. A command runs as `shell + [command, name, ...args]`, so it sees its
 * name as `$0` and its arguments as `$1...`.
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
export function createShell(config: Fields, ctx: DriverContext): ShellDriver {
  const timeout = config.number("timeout", { default: 300, min: 0 });
  const methods = readMethods(config, timeout);
  const shell = config.has("shell") ? config.stringList("shell") : ["bash", "-c"];
  if (shell.length === 0) throw config.error("shell", "must name a program, e.g. [bash, -c]");
  const cwd = config.has("cwd") ? resolve(ctx.baseDir, config.string("cwd")) : undefined;
  const env = config.stringMap("env");
  const byName = new Map(methods.map((m) => [m.name, m]));
  const names = methods.map((m) => m.name);

  return {
    client: SHELL_CLIENT,
    description: `Shell commands: ${names.join(", ")}`,
    commands: methods,
    methodsDescription: Object.fromEntries(methods.map((m) => [m.name, m.description])),
    methods: {
      get_methods: unary("List the configured commands", (args) => {
        new Args("get_methods", args, 0);
        return names;
      }),
      call_method: streaming(
        "Run a configured command: call_method(method, env, *args)",
        async function* (args: JsonValue[], call) {
          const a = new Args("call_method", args, Infinity);
          const name = a.string(0, "method");
          const method = byName.get(name);
          if (!method) {
            throw new InvalidArgumentError(
              `no command "${name}" (configured: ${names.join(", ")})`,
            );
          }
          const argv = [...shell, method.command, name, ...a.strings(2, "args")];
          const options = {
            name,
            cwd,
            env: { ...env, ...callEnv(a) },
            timeoutSeconds: method.timeoutSeconds,
            signal: call.signal,
          };
          call.log.info(`running ${name}`);
          for await (const event of runCommand(argv, options)) {
            if (event.kind === "exit") {
              if (event.code !== 0) call.log.info(`${name} exited with ${event.code}`);
              yield ["", "", event.code];
            } else if (event.kind === "stdout") yield [event.text, "", null];
            else yield ["", event.text, null];
          }
        },
      ),
    },
  };
}
