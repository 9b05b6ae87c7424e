// `jmp shell`: a shell (or one command) wired to an exporter. Local mode spawns the exporter of
// a config file on a private socket; leases through a controller come with the controller.

import { spawn } from "node:child_process";
import { constants } from "node:os";
import { basename } from "node:path";
import process from "node:process";
import { ALLOW_ENV, HOST_ENV } from "../../client/mod.ts";
import { CliError, type Command, parseCommandArgs, usageError } from "../command.ts";
import { startLocalSession } from "../local_session.ts";
import { loadChosenConfig } from "./exporter_serve.ts";

/** `jmp shell (--exporter-config FILE | --exporter NAME) [--exporter-logs] [-- COMMAND...]`. */
export const shellCommand: Command = {
  name: "shell",
  summary: "Open a shell (or run a command) with an exporter's drivers at hand (`j ...`)",
  usage: "(--exporter-config FILE | --exporter NAME) [--exporter-logs] [-- COMMAND [ARG...]]",
  options: [
    { flags: "    --exporter-config FILE", summary: "local mode: serve this exporter config" },
    { flags: "    --exporter NAME", summary: "local mode: the exporter config called NAME" },
    { flags: "    --exporter-logs", summary: "show the exporter's log lines" },
  ],
  async run(args, ctx) {
    const end = args.indexOf("--");
    const command = end === -1 ? [] : args.slice(end + 1);
    const { values } = parseCommandArgs({
      args: end === -1 ? args : args.slice(0, end),
      options: {
        "exporter-config": { type: "string" },
        exporter: { type: "string" },
        "exporter-logs": { type: "boolean", default: false },
      },
      allowPositionals: false,
      strict: true,
    }, ctx);
    if (values["exporter-config"] === undefined && values.exporter === undefined) {
      throw usageError(
        "give --exporter-config FILE or --exporter NAME (leases through a controller are not available yet)",
        ctx,
      );
    }
    // Validated here as well, so that a broken config fails before anything is spawned.
    const config = await loadChosenConfig(values, ctx);
    // Signals are watched from the start: one that comes while the exporter starts still ends
    // the session cleanly.
    const signals = new SignalRelay();
    try {
      const session = await startLocalSession(config.file, { showLogs: values["exporter-logs"] });
      try {
        if (signals.received) return signals.exitCode;
        return await runInSession(
          command,
          {
            ...process.env,
            [HOST_ENV]: session.socket,
            // Local mode trusts the config it was given, as upstream does.
            [ALLOW_ENV]: "UNSAFE",
            JMP_EXPORTER: config.metadata.name,
            PATH: `${session.binDir}:${process.env.PATH ?? ""}`,
          },
          session.exited,
          signals,
        );
      } finally {
        await session.stop();
      }
    } finally {
      signals.dispose();
    }
  },
};

// Passes SIGTERM and SIGHUP on to the command once it runs, and remembers one that came
// before. SIGINT is only swallowed: the terminal delivers Ctrl-C to the command itself, and this
// process must outlive it to clean up.
class SignalRelay {
  received: NodeJS.Signals | undefined;
  #target: ((signal: NodeJS.Signals) => void) | undefined;
  readonly #handlers = new Map<NodeJS.Signals, () => void>();

  constructor() {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      const handler = () => {
        if (signal === "SIGINT") return;
        this.received ??= signal;
        this.#target?.(signal);
      };
      this.#handlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  get exitCode(): number {
    return 128 + (this.received ? constants.signals[this.received] : 0);
  }

  /** Sends signals to `target` from now on, and the one received before, if any. */
  relayTo(target: (signal: NodeJS.Signals) => void): void {
    this.#target = target;
    if (this.received) target(this.received);
  }

  dispose(): void {
    for (const [signal, handler] of this.#handlers) process.off(signal, handler);
  }
}

// Runs the user's command (or $SHELL) in the foreground; its exit code is ours.
async function runInSession(
  command: string[],
  env: Record<string, string | undefined>,
  exporterExited: Promise<{ code: number | null; signal: string | null; stderr: string }>,
  signals: SignalRelay,
): Promise<number> {
  const shell = process.env.SHELL || "/bin/sh";
  const [cmd, ...args] = command.length ? command : [shell];
  if (command.length === 0) {
    process.stderr.write(
      `jmp shell: ${basename(shell)} with the exporter's drivers; 'j' lists them, 'exit' leaves\n`,
    );
  }
  const child = spawn(cmd, args, { stdio: "inherit", env });
  const done = new Promise<number>((resolve, reject) => {
    child.once("error", (err) => reject(new CliError(`cannot run ${cmd}: ${err.message}`, 127)));
    child.once("close", (code, signal) => {
      resolve(code ?? 128 + (signal ? constants.signals[signal] ?? 0 : 0));
    });
  });
  signals.relayTo((signal) => child.kill(signal));
  let finished = false;
  done.finally(() => (finished = true)).catch(() => {});
  exporterExited.then((exit) => {
    if (finished) return;
    process.stderr.write(
      `jmp shell: the exporter stopped (${exit.code ?? exit.signal})${
        exit.stderr ? `:\n${exit.stderr}` : ""
      }\n`,
    );
  });
  return await done;
}
