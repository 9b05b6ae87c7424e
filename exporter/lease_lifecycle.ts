// The exporter's side of a lease as an explicit state machine, so that no order of events can
// leave it stuck: Available → BeforeLeaseHook → LeaseReady → AfterLeaseHook → Available, with the
// hook failures of upstream's exporter config (warn, endLease, exit). Transitions run one at a
// time; a lease that ends while its beforeLease hook runs stops that hook at once.

import process from "node:process";
import type { HookConfig } from "../config/mod.ts";
import { runCommand } from "../drivers/shell/mod.ts";
import { ExporterStatus } from "../proto/mod.ts";
import type { DriverLog } from "../drivers/framework/mod.ts";

/** What the lifecycle needs from the exporter around it. */
export interface LifecycleOptions {
  hooks: { beforeLease?: HookConfig; afterLease?: HookConfig };
  /** JUMPSTARTER_HOST for hooks: the session socket. */
  socket: string;
  /** Put first on the hooks' PATH (a folder holding `j`). */
  binDir?: string;
  /** Moves the session to `status` and tells the controller. */
  setStatus(status: ExporterStatus, message: string): void | Promise<void>;
  /** Where hook output goes (LogStream shows it to the client), per hook. */
  hookLog(hook: "beforeLease" | "afterLease"): DriverLog;
  /** Asks the controller to end the current lease (onFailure: endLease). */
  releaseLease(name: string): Promise<void>;
  /** Stops the exporter (onFailure: exit). */
  exit(code: number, reason: string): void;
  /** Told when a lease begins (before its hook runs). */
  onLeaseBegins?(name: string): void;
}

/** Where the lifecycle is. */
export type LeasePhase = "available" | "beforeLease" | "ready" | "afterLease";

interface CurrentLease {
  name: string;
  client: string;
  /** Aborted when the lease ends: stops its beforeLease hook. */
  ended: AbortController;
}

/**
 * Follows the leases the controller grants and ends.
 *
 * @example
 * ```ts
 * const lifecycle = new LeaseLifecycle({ hooks: config.hooks, socket, setStatus, ... });
 * await lifecycle.begin("lease-1", "alice");
 * await lifecycle.end();
 * ```
 */
export class LeaseLifecycle {
  readonly #options: LifecycleOptions;
  #current: CurrentLease | undefined;
  #phase: LeasePhase = "available";
  // Transitions run in order, one at a time.
  #queue: Promise<void> = Promise.resolve();

  constructor(options: LifecycleOptions) {
    this.#options = options;
  }

  /** The lease being served (also while its hooks run), if any. */
  get lease(): string | undefined {
    return this.#current?.name;
  }

  get phase(): LeasePhase {
    return this.#phase;
  }

  /**
   * Begins lease `name` (ending another one first); nothing happens for the lease already
   * begun, so a controller that says "leased" again after a reconnect changes nothing.
   */
  begin(name: string, client: string): Promise<void> {
    if (this.#current?.name === name) return this.#queue;
    if (this.#current) this.#current.ended.abort();
    const lease: CurrentLease = { name, client, ended: new AbortController() };
    const previous = this.#current;
    this.#current = lease;
    return this.#enqueue(async () => {
      if (previous) await this.#finish(previous);
      if (lease.ended.signal.aborted) return;
      await this.#start(lease);
    });
  }

  /** Ends the current lease (after its beforeLease hook stops, if it still runs). */
  end(): Promise<void> {
    const lease = this.#current;
    if (!lease) return this.#queue;
    lease.ended.abort();
    this.#current = undefined;
    return this.#enqueue(() => this.#finish(lease));
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(step, step);
    return this.#queue;
  }

  async #start(lease: CurrentLease): Promise<void> {
    this.#options.onLeaseBegins?.(lease.name);
    const hook = this.#options.hooks.beforeLease;
    if (hook) {
      this.#phase = "beforeLease";
      await this.#options.setStatus(ExporterStatus.BEFORE_LEASE_HOOK, "Running beforeLease hook");
      const failure = await this.#runHook("beforeLease", hook, lease, lease.ended.signal);
      if (lease.ended.signal.aborted) return;
      if (failure) {
        await this.#options.setStatus(ExporterStatus.BEFORE_LEASE_HOOK_FAILED, failure);
        if (hook.onFailure === "exit") return this.#options.exit(1, `beforeLease hook: ${failure}`);
        if (hook.onFailure === "endLease") {
          await this.#options.releaseLease(lease.name).catch(() => {});
          return;
        }
      }
    }
    this.#phase = "ready";
    await this.#options.setStatus(ExporterStatus.LEASE_READY, "Ready for commands");
  }

  async #finish(lease: CurrentLease): Promise<void> {
    const hook = this.#options.hooks.afterLease;
    if (hook) {
      this.#phase = "afterLease";
      await this.#options.setStatus(ExporterStatus.AFTER_LEASE_HOOK, "Running afterLease hook");
      // The lease is over: the hook runs to its end (or timeout) regardless.
      const failure = await this.#runHook("afterLease", hook, lease, new AbortController().signal);
      if (failure) {
        await this.#options.setStatus(ExporterStatus.AFTER_LEASE_HOOK_FAILED, failure);
        if (hook.onFailure === "exit") return this.#options.exit(1, `afterLease hook: ${failure}`);
      }
    }
    this.#phase = "available";
    await this.#options.setStatus(ExporterStatus.AVAILABLE, "Available for new lease");
  }

  // Runs a hook with its output in the log; returns why it failed, or undefined.
  async #runHook(
    which: "beforeLease" | "afterLease",
    hook: HookConfig,
    lease: CurrentLease,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const log = this.#options.hookLog(which);
    const env: Record<string, string> = {
      JUMPSTARTER_HOST: this.#options.socket,
      JMP_DRIVERS_ALLOW: "UNSAFE",
      LEASE_NAME: lease.name,
      CLIENT_NAME: lease.client,
      TERM: "dumb",
      DEBIAN_FRONTEND: "noninteractive",
      GIT_TERMINAL_PROMPT: "0",
    };
    if (this.#options.binDir) env.PATH = `${this.#options.binDir}:${process.env.PATH ?? ""}`;
    const argv = [hook.exec ?? "/bin/sh", "-c", hook.script];
    let code = 0;
    try {
      for await (
        const event of runCommand(argv, {
          name: `${which} hook`,
          env,
          timeoutSeconds: hook.timeoutSeconds,
          signal,
        })
      ) {
        if (event.kind === "exit") code = event.code;
        else {
          for (const line of event.text.split("\n").filter((l) => l !== "")) {
            (event.kind === "stderr" ? log.warn : log.info)(line);
          }
        }
      }
    } catch (err) {
      if (signal.aborted) return "stopped: the lease ended";
      const message = err instanceof Error ? err.message : String(err);
      log.error(message);
      return message;
    }
    if (code !== 0) {
      const message = `${which} hook exited with code ${code}`;
      log.error(message);
      return message;
    }
    return undefined;
  }
}
