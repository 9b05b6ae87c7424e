// The exporter subprocess of a local `jmp shell`: started on a private Unix socket, awaited
// until it serves, stopped (and its socket removed) when the shell ends.

import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { CliError } from "./command.ts";
import { READY_PREFIX } from "./commands/exporter_serve.ts";
import { selfCommand } from "./self_command.ts";

/** A running exporter subprocess and its private folder. */
export interface LocalSession {
  /** The socket path, as JUMPSTARTER_HOST carries it. */
  readonly socket: string;
  /** A folder holding the `j` command, to put first on PATH. */
  readonly binDir: string;
  /** Settles when the exporter exits, with its last stderr lines. */
  readonly exited: Promise<{ code: number | null; signal: string | null; stderr: string }>;
  /** Stops the exporter and removes the folder. Idempotent. */
  stop(): Promise<void>;
}

/** Writes `dir/bin/j`, a script that runs this program's `j`; returns the bin folder. */
export function writeJCommand(dir: string): string {
  const binDir = join(dir, "bin");
  mkdirSync(binDir, { recursive: true });
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  writeFileSync(
    join(binDir, "j"),
    `#!/bin/sh\nexec ${[...selfCommand(), "j"].map(quote).join(" ")} "$@"\n`,
    { mode: 0o755 },
  );
  return binDir;
}

// Lines of the exporter's stderr kept to explain a failure.
const KEPT_LINES = 20;

/**
 * Starts `exporter serve` on a socket in a fresh private folder and waits until it listens.
 *
 * @example
 * ```ts
 * const session = await startLocalSession("bench.yaml", { showLogs: false });
 * await session.stop();
 * ```
 */
export async function startLocalSession(
  configFile: string,
  options: { showLogs: boolean; onStderr?: (text: string) => void },
): Promise<LocalSession> {
  const dir = mkdtempSync(join(tmpdir(), "jmp-shell-"));
  chmodSync(dir, 0o700);
  const socket = join(dir, "exporter.sock");
  const binDir = writeJCommand(dir);
  const [cmd, ...args] = selfCommand();
  const child: ChildProcess = spawn(cmd, [
    ...args,
    "exporter",
    "serve",
    "--exporter-config",
    configFile,
    "--listen",
    `unix:${socket}`,
    "--stop-with-stdin",
  ], {
    // Its own process group: Ctrl-C at the terminal is for the user's command, not the
    // exporter. Should this process die without stopping it, its stdin closes and it stops.
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });

  const kept: string[] = [];
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (text: string) => {
    if (options.showLogs) (options.onStderr ?? ((t) => process.stderr.write(t)))(text);
    kept.push(...text.split("\n").filter((l) => l !== ""));
    kept.splice(0, Math.max(0, kept.length - KEPT_LINES));
  });
  const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>(
    (resolve) =>
      child.once("close", (code, signal) => resolve({ code, signal, stderr: kept.join("\n") })),
  );

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const ready = new Promise<void>((resolve) => {
    let buffered = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (text: string) => {
      buffered += text;
      if (buffered.includes(READY_PREFIX)) resolve();
    });
  });
  const outcome = await Promise.race([ready.then(() => undefined), exited]);
  if (outcome !== undefined) {
    await stop();
    // The exporter says why in its own `error:` line; pass that on rather than a generic text.
    const reason = outcome.stderr.split("\n").reverse().find((l) => l.startsWith("error: "));
    throw new CliError(
      reason
        ? reason.slice("error: ".length)
        : `the exporter exited before serving${
          outcome.stderr ? `:\n${outcome.stderr}` : ` (code ${outcome.code ?? outcome.signal})`
        }`,
    );
  }
  return { socket, binDir, exited, stop };
}
