// Builds the jmp, jmp-exporter and jmp-controller binaries into dist/<target>/ from cli/,
// with `deno compile` when its runtime can be had, otherwise with the Bun pinned in deno.json.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import config from "../deno.json" with { type: "json" };

/** The platforms binaries can be built for. */
export const TARGETS = [
  "linux-x64",
  "linux-arm64",
  "darwin-arm64",
  "darwin-x64",
  "windows-x64",
] as const;
/** A platform binaries can be built for, as `<os>-<arch>`. */
export type Target = typeof TARGETS[number];

/** The programs in cli/, each built from `cli/<name>.ts`. */
export const BINARIES = ["jmp", "jmp-exporter", "jmp-controller"] as const;
/** The name of one of the programs in cli/. */
export type BinaryName = typeof BINARIES[number];

/** Which compiler to use: `auto` tries `deno compile` and falls back to Bun. */
export type Toolchain = "auto" | "deno" | "bun";

/** One target and the binaries to build for it. */
export interface PlanEntry {
  /** The platform to build for. */
  target: Target;
  /** The programs to build for it. */
  binaries: BinaryName[];
}

/** The builds of `--all`: every binary for Linux, the `jmp` client for macOS and Windows. */
export const ALL: readonly PlanEntry[] = [
  { target: "linux-x64", binaries: [...BINARIES] },
  { target: "linux-arm64", binaries: [...BINARIES] },
  { target: "darwin-arm64", binaries: ["jmp"] },
  { target: "darwin-x64", binaries: ["jmp"] },
  { target: "windows-x64", binaries: ["jmp"] },
];

/** What {@linkcode compile} builds and how. */
export interface CompileOptions {
  /** Targets to build for; defaults to the host. Not together with `all`. */
  targets?: readonly Target[];
  /** Build the {@linkcode ALL} set instead of `targets`. */
  all?: boolean;
  /** Build only these binaries (default: all three). */
  only?: readonly BinaryName[];
  /** The compiler (default `auto`). */
  toolchain?: Toolchain;
  /** Where `<target>/<binary>` files go (default `<root>/dist`). */
  outDir?: string;
  /** The repository root holding deno.json, cli/ and node_modules/ (default: this tree). */
  root?: string;
  /**
   * Where Bun gets the runtime of another platform: `auto` lets Bun download it (from the
   * npm registry) and fetches it with `npm pack` only if that fails; `npm` always uses
   * `npm pack`. Either way the runtime has the Bun version pinned in deno.json.
   */
  crossRuntime?: "auto" | "npm";
  /** Receives progress lines (default: stdout). */
  log?: (line: string) => void;
}

/** One binary that {@linkcode compile} wrote. */
export interface BuiltBinary {
  /** The program. */
  name: BinaryName;
  /** The platform it runs on. */
  target: Target;
  /** Absolute path of the file. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** The compiler that built it, e.g. `bun 1.4.5`. */
  toolchain: string;
}

/** A build that failed; the message says what to do about it. */
export class CompileError extends Error {
  /** Creates an error with a one-line message. */
  constructor(message: string) {
    super(message);
    this.name = "CompileError";
  }
}

/** A command line or option set that cannot be built as given. */
export class CompileUsageError extends CompileError {
  /** Creates an error with a one-line message. */
  constructor(message: string) {
    super(message);
    this.name = "CompileUsageError";
  }
}

interface TargetInfo {
  /** `deno compile --target` value. */
  deno: string;
  /** `bun build --target` value. */
  bun: string;
  /** npm package (under `@oven/`) holding Bun for this platform. */
  npm: string;
  /** Suffix of executables. */
  exe: string;
}

const TARGET_INFO: Record<Target, TargetInfo> = {
  "linux-x64": {
    deno: "x86_64-unknown-linux-gnu",
    bun: "bun-linux-x64",
    npm: "bun-linux-x64",
    exe: "",
  },
  "linux-arm64": {
    deno: "aarch64-unknown-linux-gnu",
    bun: "bun-linux-arm64",
    npm: "bun-linux-aarch64",
    exe: "",
  },
  "darwin-arm64": {
    deno: "aarch64-apple-darwin",
    bun: "bun-darwin-arm64",
    npm: "bun-darwin-aarch64",
    exe: "",
  },
  "darwin-x64": {
    deno: "x86_64-apple-darwin",
    bun: "bun-darwin-x64",
    npm: "bun-darwin-x64",
    exe: "",
  },
  "windows-x64": {
    deno: "x86_64-pc-windows-msvc",
    bun: "bun-windows-x64",
    npm: "bun-windows-x64",
    exe: ".exe",
  },
};

// deno compile gets 5 minutes, but only 60 s once it starts downloading its runtime (denort),
// so an unreachable download is given up on quickly.
const DENO_LIMITS: RunLimits = {
  timeoutMs: 300_000,
  phase: { pattern: /Download\S*\s+https?:\/\/\S*denort/, withinMs: 60_000 },
};
const BUN_LIMITS: RunLimits = { timeoutMs: 300_000 };
const NPM_LIMITS: RunLimits = { timeoutMs: 300_000 };

/** The repository this script belongs to. */
export const ROOT: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** True when `value` names a build target. */
export function isTarget(value: string): value is Target {
  return (TARGETS as readonly string[]).includes(value);
}

/** True when `value` names a program in cli/. */
export function isBinaryName(value: string): value is BinaryName {
  return (BINARIES as readonly string[]).includes(value);
}

/** The target of the machine running this script; throws if binaries cannot be built here. */
export function hostTarget(): Target {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const target = `${os}-${process.arch}`;
  if (!isTarget(target)) {
    throw new CompileError(`cannot build on ${target}: supported hosts are ${TARGETS.join(", ")}`);
  }
  return target;
}

/** The file name of `name` on `target`, e.g. `jmp.exe` for windows-x64. */
export function binaryFileName(name: BinaryName, target: Target): string {
  return name + TARGET_INFO[target].exe;
}

/** The Bun version deno.json pins with `"bun": "npm:bun@<version>"`. */
export function pinnedBunVersion(): string {
  const spec = (config.imports as Record<string, string | undefined>).bun ?? "";
  const version = /^npm:bun@(\d+\.\d+\.\d+\S*)$/.exec(spec)?.[1];
  if (version === undefined) {
    throw new CompileError(
      `deno.json must pin Bun exactly, as "bun": "npm:bun@<version>" in "imports" (found "${spec}")`,
    );
  }
  return version;
}

/** Which binaries get built for which targets, after `--all`, `--target` and `--only`. */
export function plan(options: CompileOptions = {}): PlanEntry[] {
  if (options.all && options.targets?.length) {
    throw new CompileUsageError("use either --all or --target, not both");
  }
  const only = options.only?.length ? options.only : BINARIES;
  const base = options.all
    ? ALL
    : [...new Set(options.targets?.length ? options.targets : [hostTarget()])].map((target) => ({
      target,
      binaries: [...BINARIES],
    }));
  const entries = base
    .map(({ target, binaries }) => ({ target, binaries: binaries.filter((b) => only.includes(b)) }))
    .filter((entry) => entry.binaries.length > 0);
  if (entries.length === 0) {
    throw new CompileUsageError(`nothing to build: --only ${only.join(",")} matches no binary`);
  }
  return entries;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the process was killed for taking too long. */
  timedOut: boolean;
  /** Set when the program could not be started, e.g. `ENOENT`. */
  spawnError?: string;
}

interface RunLimits {
  /** Kill the process after this long. */
  timeoutMs: number;
  /** Once stderr matches `pattern`, kill the process if it has not ended `withinMs` later. */
  phase?: { pattern: RegExp; withinMs: number };
}

function run(
  cmd: string,
  args: readonly string[],
  cwd: string,
  limits: RunLimits,
): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const child = spawn(cmd, args, {
      cwd,
      shell: cmd.endsWith(".cmd"),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const kill = () => {
      timedOut = true;
      child.kill("SIGKILL");
    };
    const timers = [setTimeout(kill, limits.timeoutMs)];
    child.stdout.on("data", (chunk) => stdout += String(chunk));
    child.stderr.on("data", (chunk) => {
      stderr += String(chunk);
      if (limits.phase && timers.length === 1 && limits.phase.pattern.test(stderr)) {
        timers.push(setTimeout(kill, limits.phase.withinMs));
      }
    });
    const done = (result: Omit<RunResult, "stdout" | "stderr" | "timedOut">) => {
      timers.forEach(clearTimeout);
      resolve({ ...result, stdout, stderr, timedOut });
    };
    child.on("error", (err: Error & { code?: string }) => {
      done({ code: null, spawnError: err.code ?? err.message });
    });
    child.on("close", (code) => done({ code }));
  });
}

// Removes ANSI colours and returns the first line that reads like an error.
function firstErrorLine(text: string): string {
  // deno-lint-ignore no-control-regex
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim()).filter(
    (l) => l !== "",
  );
  return lines.find((l) => /error|failed|could not/i.test(l)) ?? lines[0] ?? "no output";
}

// A path relative to the working directory when it is below it, else absolute.
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative === "" || relative.startsWith("..") || path.isAbsolute(relative)
    ? file
    : relative;
}

function sizeText(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

// --- deno compile ---------------------------------------------------------------------

type DenoAttempt = { ok: true } | { ok: false; unavailable: boolean; reason: string };

async function denoCompile(
  root: string,
  name: BinaryName,
  target: Target,
  out: string,
): Promise<DenoAttempt> {
  const deno = process.versions.deno !== undefined ? process.execPath : "deno";
  const args = [
    "compile",
    "-A",
    "--target",
    TARGET_INFO[target].deno,
    "--output",
    out,
    path.join("cli", `${name}.ts`),
  ];
  const result = await run(deno, args, root, DENO_LIMITS);
  if (result.code === 0) return { ok: true };
  if (result.spawnError !== undefined) {
    return { ok: false, unavailable: true, reason: `cannot run deno (${result.spawnError})` };
  }
  if (result.timedOut) {
    const url = /https?:\/\/\S*denort\S*\.zip/.exec(result.stderr)?.[0];
    return {
      ok: false,
      unavailable: true,
      reason: url ? `downloading its runtime (${url}) took too long` : "it took too long",
    };
  }
  const url = /https?:\/\/\S*denort\S*\.zip/.exec(result.stderr)?.[0];
  if (url !== undefined || /base binary|error sending request|dns error/i.test(result.stderr)) {
    return {
      ok: false,
      unavailable: true,
      reason: `could not download its runtime${url ? ` (${url})` : ""}`,
    };
  }
  return { ok: false, unavailable: false, reason: firstErrorLine(result.stderr) };
}

// --- bun ------------------------------------------------------------------------------

function readVersion(packageDir: string): string | undefined {
  try {
    const json = JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8"));
    return typeof json.version === "string" ? json.version : undefined;
  } catch {
    return undefined;
  }
}

function ensureExecutable(file: string): void {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    fs.chmodSync(file, 0o755);
  }
}

/**
 * Finds the Bun executable that `deno install` put in node_modules/ for this host (the
 * `bun` package's own postinstall does not run under Deno, so its bin/ holds stubs), checks
 * it is the version deno.json pins, makes it executable and returns its path.
 */
export async function locateBun(root: string = ROOT): Promise<string> {
  const version = pinnedBunVersion();
  const pkg = TARGET_INFO[hostTarget()].npm;
  const exe = process.platform === "win32" ? "bun.exe" : "bun";
  const nodeModules = path.join(root, "node_modules");
  const candidates: string[] = [
    path.join(nodeModules, ".deno", `@oven+${pkg}@${version}`, "node_modules", "@oven", pkg),
    path.join(nodeModules, "@oven", pkg),
  ];
  try {
    // The package next to `bun` itself: Deno's layout links optional dependencies there.
    candidates.unshift(
      path.join(path.dirname(fs.realpathSync(path.join(nodeModules, "bun"))), "@oven", pkg),
    );
  } catch {
    // node_modules/bun is missing; the error below says how to get it.
  }
  const found: string[] = [];
  for (const dir of candidates) {
    const installed = readVersion(dir);
    if (installed === undefined) continue;
    if (installed !== version) {
      found.push(`${installed} in ${path.relative(root, dir)}`);
      continue;
    }
    const bin = path.join(dir, "bin", exe);
    if (!fs.existsSync(bin)) continue;
    ensureExecutable(bin);
    const reported = await run(bin, ["--version"], root, { timeoutMs: 30_000 });
    if (reported.stdout.trim() !== version) {
      throw new CompileError(
        `${bin} reports Bun "${reported.stdout.trim()}" instead of ${version}: run 'deno install' again`,
      );
    }
    return bin;
  }
  const stale = found.length ? ` (found ${found.join(", ")})` : "";
  throw new CompileError(
    `Bun ${version} for this host (npm package @oven/${pkg}) is not in node_modules/${stale}: ` +
      `run 'deno install' (deno.json maps "bun" to npm:bun@${version})`,
  );
}

/**
 * Returns Bun's runtime for `target` (the pinned version) fetched with `npm pack` and kept
 * in node_modules/.cache/jumpstarter-bun/, for `bun build --compile-executable-path`.
 */
export async function fetchBunRuntime(target: Target, root: string = ROOT): Promise<string> {
  const version = pinnedBunVersion();
  const pkg = TARGET_INFO[target].npm;
  const exe = target.startsWith("windows") ? "bun.exe" : "bun";
  const cache = path.join(root, "node_modules", ".cache", "jumpstarter-bun");
  const dir = path.join(cache, `${pkg}-${version}`);
  const bin = path.join(dir, "bin", exe);
  if (readVersion(dir) === version && fs.existsSync(bin)) return bin;

  const spec = `@oven/${pkg}@${version}`;
  fs.mkdirSync(cache, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(cache, ".tmp-"));
  try {
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const packed = await run(
      npm,
      ["pack", spec, "--pack-destination", tmp, "--loglevel=error"],
      tmp,
      NPM_LIMITS,
    );
    if (packed.code !== 0) {
      const why = packed.spawnError
        ? `npm cannot be started (${packed.spawnError})`
        : packed.timedOut
        ? "timed out"
        : firstErrorLine(packed.stderr);
      throw new CompileError(
        `cannot fetch the Bun runtime for ${target} with 'npm pack ${spec}': ${why}`,
      );
    }
    const tgz = fs.readdirSync(tmp).find((f) => f.endsWith(".tgz"));
    if (tgz === undefined) {
      throw new CompileError(`'npm pack ${spec}' wrote no tarball into ${tmp}`);
    }
    const untar = await run(
      "tar",
      ["-xzf", tgz, "package/package.json", `package/bin/${exe}`],
      tmp,
      NPM_LIMITS,
    );
    if (untar.code !== 0) {
      throw new CompileError(`cannot extract ${tgz}: ${firstErrorLine(untar.stderr)}`);
    }
    const extracted = path.join(tmp, "package");
    if (readVersion(extracted) !== version) {
      throw new CompileError(
        `${spec} from npm reports version ${readVersion(extracted)}, not ${version}`,
      );
    }
    ensureExecutable(path.join(extracted, "bin", exe));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(extracted, dir);
    return bin;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// Checks that the npm packages deno.json maps are the ones in node_modules/, which is where
// Bun resolves bare specifiers from (it does not read deno.json).
function checkNodeModules(root: string, log: (line: string) => void): void {
  for (const [key, spec] of Object.entries(config.imports as Record<string, string>)) {
    const match = /^npm:(@?[^@]+)@([^/]+)/.exec(spec);
    if (match === null) continue;
    const [, name, version] = match;
    if (name !== key) {
      log(`warning: Bun does not read deno.json, so the alias "${key}" (${spec}) will not resolve`);
    }
    const installed = readVersion(path.join(root, "node_modules", name));
    if (installed !== undefined && installed !== version) {
      throw new CompileError(
        `node_modules/${name} is ${installed} but deno.json pins ${version}: run 'deno install'`,
      );
    }
  }
}

function bunFailure(name: BinaryName, target: Target, stderr: string): CompileError {
  const unresolved = /Could not resolve: "([^"]+)"/.exec(stderr)?.[1];
  if (unresolved !== undefined) {
    const fix = /^(npm|jsr):/.test(unresolved)
      ? 'import it by a bare name mapped in deno.json\'s "imports" instead'
      : "map it in deno.json's \"imports\" and run 'deno install' so node_modules/ holds it";
    return new CompileError(`bun cannot resolve "${unresolved}" in ${name}: ${fix}`);
  }
  return new CompileError(`bun build of ${name} for ${target} failed: ${firstErrorLine(stderr)}`);
}

async function bunCompile(
  bun: string,
  root: string,
  name: BinaryName,
  target: Target,
  out: string,
  runtime?: string,
): Promise<RunResult> {
  const args = [
    "build",
    "--compile",
    "--minify",
    // Precompiled bytecode (CommonJS is what Bun compiles to bytecode) starts the CLI in about a
    // tenth of the time: most of a start is otherwise spent parsing the bundle.
    "--bytecode",
    "--format=cjs",
    // Maps `--debug` stack traces back to cli/ sources; costs a few KiB.
    "--sourcemap",
    `--target=${TARGET_INFO[target].bun}`,
    // A CLI must not pick up .env or bunfig.toml from whatever directory it runs in.
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    ...(runtime ? [`--compile-executable-path=${runtime}`] : []),
    path.join("cli", `${name}.ts`),
    "--outfile",
    out,
  ];
  return await run(bun, args, root, BUN_LIMITS);
}

// --- compile --------------------------------------------------------------------------

/**
 * Builds the binaries that {@linkcode plan} selects into `<outDir>/<target>/`, logging the
 * toolchain used and each binary's path and size, and returns what it built.
 */
export async function compile(options: CompileOptions = {}): Promise<BuiltBinary[]> {
  const root = options.root ?? ROOT;
  const outDir = path.resolve(options.outDir ?? path.join(root, "dist"));
  const toolchain = options.toolchain ?? "auto";
  const log = options.log ?? ((line: string) => console.log(line));
  const entries = plan(options);
  const built: BuiltBinary[] = [];
  const denoVersion = process.versions.deno;
  let denoDown: string | undefined; // why deno compile cannot work here, once known
  let bun: string | undefined;
  const bunVersion = pinnedBunVersion();

  const record = (name: BinaryName, target: Target, file: string, used: string) => {
    const size = fs.statSync(file).size;
    built.push({ name, target, path: file, size, toolchain: used });
    log(`  ${shown(file).padEnd(40)} ${sizeText(size).padStart(10)}`);
  };

  for (const { target, binaries } of entries) {
    const dir = path.join(outDir, target);
    fs.mkdirSync(dir, { recursive: true });
    const outFile = (name: BinaryName) => path.join(dir, binaryFileName(name, target));

    if (toolchain !== "bun" && denoDown === undefined) {
      const [first] = binaries;
      const attempt = await denoCompile(root, first, target, outFile(first));
      if (attempt.ok) {
        const used = `deno ${denoVersion ?? ""}`.trim();
        log(`${target}: ${used} compile`);
        record(first, target, outFile(first), used);
        for (const name of binaries.slice(1)) {
          const next = await denoCompile(root, name, target, outFile(name));
          if (!next.ok) {
            throw new CompileError(`deno compile of ${name} for ${target} failed: ${next.reason}`);
          }
          record(name, target, outFile(name), used);
        }
        continue;
      }
      if (!attempt.unavailable || toolchain === "deno") {
        const hint = attempt.unavailable
          ? "; set DENORT_BIN to a local denort binary or use --toolchain bun"
          : "";
        throw new CompileError(
          `deno compile of ${first} for ${target} failed: ${attempt.reason}${hint}`,
        );
      }
      denoDown = attempt.reason;
      log(`deno compile is unavailable: ${attempt.reason}; falling back to bun ${bunVersion}`);
    }

    if (bun === undefined) {
      bun = await locateBun(root);
      checkNodeModules(root, log);
    }
    const cross = target !== hostTarget();
    let runtime = cross && options.crossRuntime === "npm"
      ? await fetchBunRuntime(target, root)
      : undefined;
    log(
      `${target}: bun ${bunVersion} build --compile` +
        (runtime ? ` (runtime: ${shown(runtime)})` : ""),
    );
    for (const name of binaries) {
      let result = await bunCompile(bun, root, name, target, outFile(name), runtime);
      if (result.code !== 0 && cross && runtime === undefined && isDownloadFailure(result)) {
        const spec = `@oven/${TARGET_INFO[target].npm}@${bunVersion}`;
        log(`  bun could not get its ${target} runtime (${firstErrorLine(result.stderr)})`);
        runtime = await fetchBunRuntime(target, root);
        log(`  using ${shown(runtime)}, fetched with 'npm pack ${spec}'`);
        result = await bunCompile(bun, root, name, target, outFile(name), runtime);
      }
      if (result.code !== 0) throw bunFailure(name, target, result.stderr);
      // The source map is embedded in the binary; bun also writes it beside it.
      fs.rmSync(`${outFile(name)}.map`, { force: true });
      record(name, target, outFile(name), `bun ${bunVersion}`);
    }
  }
  return built;
}

function isDownloadFailure(result: RunResult): boolean {
  return result.timedOut ||
    /failed to download|download|ConnectionRefused|ConnectionReset|network|certificate|timed? ?out/i
      .test(result.stderr);
}

// --- command line ---------------------------------------------------------------------

const HELP = `Build the jmp, jmp-exporter and jmp-controller binaries into dist/<target>/.

Usage:
  deno task compile [options]

Options:
  --target TARGETS   ${TARGETS.join(", ")}
                     (repeatable or comma-separated; default: this host)
  --all              linux-x64 and linux-arm64 for all binaries, plus jmp alone for
                     darwin-arm64, darwin-x64 and windows-x64
  --only NAMES       some of ${BINARIES.join(", ")} (comma-separated)
  --toolchain NAME   auto (default: deno compile, else bun), deno or bun
  --out-dir DIR      where the <target>/ folders go (default: dist)
  -h, --help         show this help

'deno compile' downloads its runtime from dl.deno.land (or uses DENORT_BIN); where it
cannot, Bun ${pinnedBunVersion()} from node_modules/ (deno.json "bun") builds instead and
takes the runtimes of other platforms from the npm registry.
`;

function splitList(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

/** Turns command-line arguments into {@linkcode CompileOptions}, or `"help"` for `--help`. */
export function parseCompileArgs(args: readonly string[]): CompileOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        target: { type: "string", multiple: true },
        all: { type: "boolean" },
        only: { type: "string", multiple: true },
        toolchain: { type: "string" },
        "out-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    throw new CompileUsageError(
      `${(err instanceof Error ? err.message : String(err)).split(". ")[0]} (see --help)`,
    );
  }
  const { values } = parsed;
  if (values.help) return "help";
  const targets = splitList(values.target);
  for (const t of targets) {
    if (!isTarget(t)) {
      throw new CompileUsageError(`unknown target "${t}": use one of ${TARGETS.join(", ")}`);
    }
  }
  const only = splitList(values.only);
  for (const b of only) {
    if (!isBinaryName(b)) {
      throw new CompileUsageError(`unknown binary "${b}": use one of ${BINARIES.join(", ")}`);
    }
  }
  const toolchain = values.toolchain ?? "auto";
  if (toolchain !== "auto" && toolchain !== "deno" && toolchain !== "bun") {
    throw new CompileUsageError(`unknown toolchain "${toolchain}": use auto, deno or bun`);
  }
  return {
    targets: targets.filter(isTarget),
    all: values.all ?? false,
    only: only.filter(isBinaryName),
    toolchain,
    outDir: values["out-dir"],
  };
}

/** Runs the build script with `args`; returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  try {
    const options = parseCompileArgs(args);
    if (options === "help") {
      process.stdout.write(HELP);
      return 0;
    }
    await compile(options);
    return 0;
  } catch (err) {
    if (err instanceof CompileError) {
      process.stderr.write(`error: ${err.message}\n`);
      return err instanceof CompileUsageError ? 2 : 1;
    }
    throw err;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
