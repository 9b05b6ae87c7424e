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
    const session = await startLocalSession(config.file, { showLogs: values["exporter-logs"] });
    try {
      return await runInSession(command, {
        ...process.env,
        [HOST_ENV]: session.socket,
        // Local mode trusts the config it was given, as upstream does.
        [ALLOW_ENV]: "UNSAFE",
        JMP_EXPORTER: config.metadata.name,
        PATH: `${session.binDir}:${process.env.PATH ?? ""}`,
      }, session.exited);
    } finally {
      await session.stop();
    }
  },
};

// Runs the user's command (or $SHELL) in the foreground; its exit code is ours. Ctrl-C reaches
// the command through the terminal; we outlive it to clean up. SIGTERM/SIGHUP are passed on.
async function runInSession(
  command: string[],
  env: Record<string, string | undefined>,
  exporterExited: Promise<{ code: number | null; signal: string | null; stderr: string }>,
): Promise<number> {
  const shell = process.env.SHELL || "/bin/sh";
  const [cmd, ...args] = command.length ? command : [shell];
  const interactive = command.length === 0;
  if (interactive) {
    process.stderr.write(
      `jmp shell: ${basename(shell)} with the exporter's drivers; 'j' lists them, 'exit' leaves\n`,
    );
  }
  const child = spawn(cmd, args, { stdio: "inherit", env });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const handlers = {
    SIGINT: () => {/* the terminal delivered it to the command too */},
    SIGTERM: forward("SIGTERM"),
    SIGHUP: forward("SIGHUP"),
  };
  for (const [signal, handler] of Object.entries(handlers)) process.on(signal, handler);
  try {
    const done = new Promise<number>((resolve, reject) => {
      child.once("error", (err) => reject(new CliError(`cannot run ${cmd}: ${err.message}`, 127)));
      child.once("close", (code, signal) => {
        resolve(code ?? 128 + (signal ? constants.signals[signal] ?? 0 : 0));
      });
    });
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
  } finally {
    for (const [signal, handler] of Object.entries(handlers)) process.off(signal, handler);
  }
}
