// Runs one command for a driver: output streamed as it comes, a timeout and cancellation that
// kill the whole process group (a shell's children included), and the exit code at the end.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import process from "node:process";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { DeviceUnavailableError, DriverTimeoutError } from "../framework/mod.ts";

/** How to run a command. */
export interface RunCommandOptions {
  /** Names the command in messages (`on`, `flash`). */
  name: string;
  cwd?: string;
  /** Added to the exporter's environment. */
  env?: Record<string, string>;
  /** Seconds before the command is killed; none when absent. */
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
// Output chunks waiting for a slow consumer before the pipes are paused (the command then blocks
// on write instead of the exporter buffering without bound), and resumed below the low mark.
const HIGH_WATER = 64;
const LOW_WATER = 16;
// setTimeout fires at once for longer delays; such timeouts mean "none" in practice.
const MAX_TIMER_MS = 2 ** 31 - 1;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function startFailure(name: string, cmd: string, cwd: string | undefined, err: unknown) {
  const reason = cwd !== undefined && !existsSync(cwd)
    ? `working directory ${cwd} does not exist`
    : (err as Error).message;
  return new DeviceUnavailableError(`${name}: cannot run ${cmd}: ${reason}`);
}

/**
 * Runs `argv` in a process group of its own and yields its output as it arrives, then its exit
 * code (128 + N when killed by signal N). Throws DriverTimeoutError on timeout,
 * DeviceUnavailableError when it cannot start, and the signal's reason when aborted. Whenever it
 * stops the command (timeout, abort, or the consumer leaving early) the group gets SIGTERM, then
 * SIGKILL after a grace second, and the generator settles only once the command has exited.
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
  const { name, cwd, signal } = options;
  signal?.throwIfAborted();
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new TypeError(`${name}: no command to run`);
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, so that a kill reaches grandchildren too
    });
  } catch (err) {
    throw startFailure(name, cmd, cwd, err);
  }
  const pipes: Readable[] = [child.stdout!, child.stderr!];
  const queue: CommandEvent[] = [];
  // Why the command stopped early (or could not start); its output is no longer delivered.
  let failure: Error | undefined;
  let exited = false;
  let closed = false;
  let paused = false;
  const flow = (on: boolean) => {
    if (paused !== on) return;
    paused = !on;
    for (const pipe of pipes) {
      if (on) pipe.resume();
      else pipe.pause();
    }
  };
  let wake = () => {};
  const notify = () => wake();
  const push = (event: CommandEvent) => {
    if (failure) return;
    queue.push(event);
    if (queue.length >= HIGH_WATER) flow(false);
    notify();
  };
  // Once the command is dead, a descendant that escaped the group could still hold the pipes
  // open; after a kill nobody wants more output, so stop waiting for it.
  const dropOutput = () => {
    for (const pipe of pipes) pipe.destroy();
  };
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stdout!.on("data", (text: string) => push({ kind: "stdout", text }));
  child.stderr!.on("data", (text: string) => push({ kind: "stderr", text }));
  child.once("error", (err) => {
    // Only spawning fails this way (kills go through process.kill); "close" may not follow.
    failure ??= startFailure(name, cmd, cwd, err);
    closed = true;
    notify();
  });
  child.once("exit", () => {
    exited = true;
    if (failure) dropOutput();
  });
  child.once("close", (code, bySignal) => {
    const number = bySignal ? constants.signals[bySignal] ?? 0 : 0;
    push({ kind: "exit", code: code ?? 128 + number });
    closed = true;
    notify();
  });

  const stop = (reason: Error) => {
    if (failure || closed) return;
    failure = reason;
    queue.length = 0;
    killGroup(child.pid!, "SIGTERM");
    // Paused pipes would hold back "close"; a dead command's pipes may never close.
    flow(true);
    if (exited) dropOutput();
    notify();
  };
  const timeout = options.timeoutSeconds;
  const timer = timeout !== undefined && timeout * 1000 <= MAX_TIMER_MS
    ? setTimeout(
      () => stop(new DriverTimeoutError(`${name}: timed out after ${timeout}s`)),
      timeout * 1000,
    )
    : undefined;
  const onAbort = () => {
    const reason = signal?.reason;
    stop(reason instanceof Error ? reason : new Error(`${name}: cancelled`));
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  try {
    while (true) {
      const event = queue.shift();
      if (event) {
        if (queue.length <= LOW_WATER) flow(true);
        yield event;
        continue;
      }
      if (closed || failure) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    // The consumer stopped early: do not leave the command running.
    stop(new Error(`${name}: output no longer wanted`));
    if (child.pid !== undefined && (!closed || failure)) await reap(child, closed);
  }
  if (failure) throw failure;
}

// Waits for a command that was sent SIGTERM, then makes sure nothing of its group outlives the
// grace period: a descendant that ignores SIGTERM gets SIGKILL.
async function reap(child: ChildProcess, closed: boolean): Promise<void> {
  const pid = child.pid!;
  const deadline = Date.now() + KILL_GRACE_MS;
  if (!closed) {
    const escalation = setTimeout(() => killGroup(pid, "SIGKILL"), KILL_GRACE_MS);
    await new Promise((resolve) => child.once("close", resolve));
    clearTimeout(escalation);
  }
  while (groupAlive(pid)) {
    if (Date.now() >= deadline) {
      killGroup(pid, "SIGKILL");
      return;
    }
    await sleep(20);
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
