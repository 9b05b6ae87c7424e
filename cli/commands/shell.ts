// `jmp shell`: a shell (or one command) wired to an exporter. Local mode spawns the exporter of
// a config file on a private socket; leases through a controller come with the controller.

import { spawn } from "node:child_process";
import { constants } from "node:os";
import { basename } from "node:path";
import process from "node:process";
import { ConnectError } from "@connectrpc/connect";
import {
  ALLOW_ENV,
  type ControllerConnection,
  HOST_ENV,
  type LeaseInfo,
  waitUntilReady,
} from "../../client/mod.ts";
import { formatDuration } from "../duration.ts";
import { CliError, type Command, type Context, parseCommandArgs, usageError } from "../command.ts";
import { startLocalSession, writeJCommand } from "../local_session.ts";
import { loadChosenConfig } from "./exporter_serve.ts";
import {
  CLIENT_OPTION_DOCS,
  CLIENT_OPTIONS,
  clientConnection,
  controllerStep,
  durationOption,
} from "./leases.ts";

/**
 * `jmp shell (--exporter-config FILE | --exporter NAME | -l SEL | -n EXPORTER | --lease NAME)
 * [-- COMMAND...]`.
 */
export const shellCommand: Command = {
  name: "shell",
  summary: "Open a shell (or run a command) with an exporter's drivers at hand (`j ...`)",
  usage: "(-l SELECTOR | -n EXPORTER | --lease NAME | --exporter-config FILE | --exporter NAME) " +
    "[--duration D] [-- COMMAND [ARG...]]",
  options: [
    { flags: "-l, --selector SEL", summary: "lease an exporter with these labels (board=rpi4)" },
    { flags: "-n, --name EXPORTER", summary: "lease this exporter" },
    { flags: "    --lease NAME", summary: "use an existing lease (kept when the shell ends)" },
    { flags: "    --duration D", summary: "length of a new lease (default 30m)" },
    {
      flags: "    --auto-extend",
      summary: "extend the lease while the shell runs, as far as the access policy allows",
    },
    {
      flags: "    --session-grace D",
      summary: "should jmp shell die, its new lease is released after this (default 60s)",
    },
    {
      flags: "    --acquisition-timeout D",
      summary: "how long to wait for a free exporter (default: the client config's, 2h)",
    },
    ...CLIENT_OPTION_DOCS,
    { flags: "    --exporter-config FILE", summary: "local mode: serve this exporter config" },
    { flags: "    --exporter NAME", summary: "local mode: the exporter config called NAME" },
    { flags: "    --exporter-logs", summary: "local mode: show the exporter's log lines" },
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
        selector: { type: "string", short: "l" },
        name: { type: "string", short: "n" },
        lease: { type: "string" },
        duration: { type: "string", default: "30m" },
        "acquisition-timeout": { type: "string" },
        "auto-extend": { type: "boolean", default: false },
        "session-grace": { type: "string", default: "60s" },
        ...CLIENT_OPTIONS,
      },
      allowPositionals: false,
      strict: true,
    }, ctx);
    const local = values["exporter-config"] !== undefined || values.exporter !== undefined;
    const leased = values.selector !== undefined || values.name !== undefined ||
      values.lease !== undefined;
    if (local === leased) {
      throw usageError(
        local
          ? "local mode (--exporter-config, --exporter) and leases (-l, -n, --lease) do not mix"
          : "give -l SELECTOR, -n EXPORTER or --lease NAME (or --exporter-config FILE locally)",
        ctx,
      );
    }
    return local ? await localShell(values, command, ctx) : await leasedShell(values, command, ctx);
  },
};

async function localShell(
  values: { "exporter-config"?: string; exporter?: string; "exporter-logs": boolean },
  command: string[],
  ctx: Context,
): Promise<number> {
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
        signals,
        session.exited.then((exit) =>
          `the exporter stopped (${exit.code ?? exit.signal})${
            exit.stderr ? `:\n${exit.stderr}` : ""
          }`
        ),
      );
    } finally {
      await session.stop();
    }
  } finally {
    signals.dispose();
  }
}

// A shell on a leased exporter: the lease is made (or taken), waited for with its queue
// position shown, reached through a local socket, and released at the end if made here.
async function leasedShell(
  values: {
    selector?: string;
    name?: string;
    lease?: string;
    duration: string;
    "acquisition-timeout"?: string;
    "auto-extend": boolean;
    "session-grace": string;
    client?: string;
    "client-config"?: string;
  },
  command: string[],
  ctx: Context,
): Promise<number> {
  const durationMs = durationOption(values.duration, "--duration");
  const graceMs = durationOption(values["session-grace"], "--session-grace");
  using connection = await clientConnection(values);
  const timeoutMs = values["acquisition-timeout"]
    ? durationOption(values["acquisition-timeout"], "--acquisition-timeout")
    : connection.config.leases.acquisitionTimeout * 1000;
  const signals = new SignalRelay();
  const stopWaiting = new AbortController();
  signals.onReceived = () => stopWaiting.abort();
  let created: string | undefined;
  try {
    let name = values.lease;
    if (!name) {
      const asked = await controllerStep(() =>
        connection.createLease({
          selector: values.selector,
          exporterName: values.name,
          durationMs,
          // Should this process die, the lease goes back after the grace period, not at its end.
          sessionGraceSeconds: Math.ceil(graceMs / 1000),
        })
      );
      name = created = asked.name;
    }
    const lease = await controllerStep(() =>
      connection.waitForLease(name!, {
        timeoutMs,
        signal: stopWaiting.signal,
        onWait: (message) => ctx.io.stderr(`jmp shell: waiting for lease ${name}: ${message}\n`),
      })
    );
    if (signals.received) return signals.exitCode;
    await using tunnel = await connection.openTunnel(lease.name);
    await controllerStep(() =>
      waitUntilReady(`unix:${tunnel.socket}`, {
        timeoutMs: connection.config.leases.dialTimeout * 1000,
        onHookLine: (hook, line) => ctx.io.stderr(`jmp shell: [${hook}] ${line}\n`),
      })
    );
    const binDir = writeJCommand(tunnel.socket.replace(/\/[^/]*$/, ""));
    const allow = connection.config.drivers;
    ctx.io.stderr(`jmp shell: lease ${lease.name} on exporter ${lease.exporter}\n`);
    const leaseEnded = watchLease(connection, lease, {
      autoExtend: values["auto-extend"],
      graceMs,
    });
    try {
      return await runInSession(
        command,
        {
          ...process.env,
          [HOST_ENV]: tunnel.socket,
          [ALLOW_ENV]: allow.unsafe ? "UNSAFE" : allow.allow.join(","),
          JMP_EXPORTER: lease.exporter,
          JMP_LEASE: lease.name,
          PATH: `${binDir}:${process.env.PATH ?? ""}`,
        },
        signals,
        leaseEnded.promise,
      );
    } finally {
      leaseEnded.stop();
    }
  } finally {
    signals.dispose();
    if (created) {
      await connection.releaseLease(created).catch((err) => {
        // Already ended (expired) is fine; anything else the user should know about.
        if (!/already ended/.test(String(err?.message))) {
          ctx.io.stderr(`jmp shell: could not release lease ${created}: ${err?.message ?? err}\n`);
        }
      });
    }
  }
}

// Resolves with a message when the lease ends (expired, released elsewhere) during the shell,
// says on stderr when its exporter goes offline or comes back, and with `autoExtend` extends the
// lease by its first duration whenever it nears its end, until the access policy says no.
function watchLease(
  connection: ControllerConnection,
  lease: LeaseInfo,
  options: { autoExtend: boolean; graceMs: number },
) {
  const { name } = lease;
  const exporter = lease.exporter ?? "";
  const step = lease.durationMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let online = true;
  let extend = options.autoExtend;
  const promise = new Promise<string>((resolve) => {
    const check = async () => {
      if (stopped) return;
      const [current, exporters] = await Promise.all([
        connection.getLease(name).catch(() => undefined),
        connection.listExporters().catch(() => undefined),
      ]);
      if (stopped) return;
      if (current && current.state !== "Ready") {
        resolve(
          `lease ${name} has ended (${current.state}${
            current.message ? `: ${current.message}` : ""
          })`,
        );
        return;
      }
      const now = exporters?.find((e) => e.name === exporter)?.online;
      if (now !== undefined && now !== online) {
        online = now;
        process.stderr.write(
          now
            ? `jmp shell: exporter ${exporter} is back\n`
            : `jmp shell: exporter ${exporter} went offline; the lease stays yours while it ` +
              `comes back\n`,
        );
      }
      const left = current?.endTime === undefined ? Infinity : current.endTime - Date.now();
      if (extend && current && left < Math.min(5 * 60_000, step / 4)) {
        try {
          const longer = await connection.updateLease(name, current.durationMs + step);
          process.stderr.write(
            `jmp shell: lease ${name} extended, now ends ${
              new Date(longer.endTime!).toISOString()
            }\n`,
          );
        } catch (err) {
          extend = false;
          process.stderr.write(
            `jmp shell: lease ${name} cannot be extended further (${
              err instanceof ConnectError ? err.rawMessage : err
            }); it ends in ${formatDuration(left)}\n`,
          );
        }
      }
      // Asking about the lease is also what keeps it: well within the grace period.
      timer = setTimeout(check, Math.min(2000, options.graceMs / 3, Math.max(200, left / 4)));
    };
    timer = setTimeout(check, Math.min(1000, options.graceMs / 3));
  });
  return {
    promise,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

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
        // Ctrl-C while waiting for a lease gives up waiting; once the command runs the terminal
        // delivers it there.
        if (signal === "SIGINT" && this.#target) return;
        this.received ??= signal;
        this.onReceived?.();
        this.#target?.(signal);
      };
      this.#handlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  /** Told when a signal arrives (to stop waiting for a lease). */
  onReceived: (() => void) | undefined;

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

// Runs the user's command (or $SHELL) in the foreground; its exit code is ours. When `ended`
// resolves first (the exporter stopped, the lease ended), the user is told why and the command
// gets SIGHUP, as a terminal that goes away would send.
async function runInSession(
  command: string[],
  env: Record<string, string | undefined>,
  signals: SignalRelay,
  ended: Promise<string>,
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
  ended.then((why) => {
    if (finished) return;
    process.stderr.write(`jmp shell: ${why}\n`);
    child.kill("SIGHUP");
  });
  return await done;
}
