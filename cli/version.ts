// Version of this Jumpstarter build (deno.json's "version") and a description of the
// runtime and platform a binary is running on, shared by every entry point.
import process from "node:process";
import { VERSION } from "../config/version.ts";

export { VERSION };

/** What `<program> version --output json` prints. */
export interface VersionInfo {
  /** Program name, e.g. `jmp`. */
  name: string;
  /** Release version, e.g. `0.1.0`. */
  version: string;
  /** JavaScript runtime running the program, e.g. `bun 1.4.5` or `deno 2.9.6`. */
  runtime: string;
  /** Operating system and CPU in build-target spelling, e.g. `linux-x64`. */
  platform: string;
}

/**
 * Names the JavaScript runtime that runs this process, detected at run time: the compiled
 * binaries report Bun, `deno run` reports Deno, anything else reports Node.js.
 */
export function runtimeName(): string {
  const bun = process.versions.bun;
  if (bun !== undefined) return `bun ${bun}`;
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  if (deno !== undefined) return `deno ${deno.version.deno}`;
  return `node ${process.versions.node}`;
}

/** The host as `<os>-<arch>` in the spelling of build targets (`win32` becomes `windows`). */
export function platformName(): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  return `${os}-${process.arch}`;
}

/** Collects the version information of the program called `name`. */
export function versionInfo(name: string): VersionInfo {
  return { name, version: VERSION, runtime: runtimeName(), platform: platformName() };
}
