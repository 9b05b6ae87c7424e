// Runs one command for a driver: output streamed as it comes, a timeout and cancellation that
// kill the whole process group (a shell's children included), and the exit code at the end.

import { spawn } from "node:child_process";
import process from "node:process";
import { DeviceUnavailableError, DriverTimeoutError } from "../framework/mod.ts";

/** How to run a command. */
export interface RunCommandOptions {
  /** Names the command in messages (`on`, `flash`). */
  name: string;
  cwd?: string;
  /** Added to the exporter's environment. */
  env?: Record<string, string>;
  timeoutSeconds?: number;
  /** Aborting kills the command. */
  signal?: AbortSignal;
}

/** A piece of output, or the end with the exit code. */
export type CommandEvent =
  | { kind: "stdout" | "stderr"; text: string }
  | { kind: "exit"; code: number };

// After SIGTERM, a process group gets this long before SIGKILL.
const KILL_GRACE_MS = 1000;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Runs `argv` and yields its output as it arrives, then its exit code (128 + N when killed by
 * signal N). Throws DriverTimeoutError on timeout, DeviceUnavailableError when it cannot start,
 * and the signal's reason when aborted; in each case the process group is gone before it throws.
 *
 * @example
 * ```ts
 * for await (const e of runCommand(["sh", "-c", "echo hi"], { name: "hi" })) console.log(e);
 * ```
 */
export async function* runCommand(
  argv: readonly string[],
  options: RunCommandOptions,
): AsyncGenerator<CommandEvent> {
  options.signal?.throwIfAborted();
  const [cmd, ...args] = argv;
  const child = spawn(cmd, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so that a timeout reaches grandchildren too
  });
  const queue: CommandEvent[] = [];
  let failure: Error | undefined;
  let closed = false;
  let wake = () => {};
  const push = (event: CommandEvent) => {
    queue.push(event);
    wake();
  };
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stdout!.on("data", (text: string) => push({ kind: "stdout", text }));
  child.stderr!.on("data", (text: string) => push({ kind: "stderr", text }));
  child.once("error", (err: NodeJS.ErrnoException) => {
    failure ??= new DeviceUnavailableError(`${options.name}: cannot run ${cmd}: ${err.message}`);
    closed = true;
    wake();
  });
  child.once("close", (code, signal) => {
    const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
    if (!failure) push({ kind: "exit", code: code ?? 128 + (signals[signal ?? ""] ?? 0) });
    closed = true;
    wake();
  });

  let escalation: ReturnType<typeof setTimeout> | undefined;
  const stop = (reason: Error) => {
    if (failure || closed) return;
    failure = reason;
    if (child.pid !== undefined) {
      killGroup(child.pid, "SIGTERM");
      escalation = setTimeout(() => killGroup(child.pid!, "SIGKILL"), KILL_GRACE_MS);
    }
  };
  const timeout = options.timeoutSeconds;
  const timer = timeout === undefined ? undefined : setTimeout(
    () => stop(new DriverTimeoutError(`${options.name}: timed out after ${timeout}s`)),
    timeout * 1000,
  );
  const onAbort = () => {
    const reason = options.signal?.reason;
    stop(reason instanceof Error ? reason : new Error(`${options.name}: cancelled`));
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });

  try {
    while (true) {
      if (queue.length > 0) {
        const event = queue.shift()!;
        if (!failure) yield event;
        continue;
      }
      if (closed) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    if (failure) throw failure;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    if (!closed) {
      // The consumer stopped early: do not leave the command running.
      if (child.pid !== undefined) killGroup(child.pid, "SIGKILL");
      await new Promise((resolve) => child.once("close", resolve));
    }
    clearTimeout(escalation);
  }
}

/** Runs `argv` to the end; returns its exit code and whole output. */
export async function runToCompletion(
  argv: readonly string[],
  options: RunCommandOptions,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  let code = -1;
  for await (const event of runCommand(argv, options)) {
    if (event.kind === "exit") code = event.code;
    else if (event.kind === "stdout") stdout += event.text;
    else stderr += event.text;
  }
  return { code, stdout, stderr };
}
