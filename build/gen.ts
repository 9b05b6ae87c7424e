/**
 * Regenerates the TypeScript protocol code in `proto/gen/` from the `.proto` files, offline,
 * with the buf CLI and protoc-gen-es pinned in deno.json.
 *
 * Run it as `deno task gen`.
 *
 * @module
 */

import { basename, delimiter, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Where the `.proto` files, buf.yaml and buf.gen.yaml live. */
const PROTO_DIR = join(ROOT, "proto");
/** Where `deno task gen` writes. */
export const DEFAULT_OUT_DIR = join(PROTO_DIR, "gen");
/** The google/api and google/rpc sources, from the google-proto-files npm package. */
const GOOGLE_PROTOS = join(ROOT, "node_modules", "google-proto-files");

/**
 * Files generated beyond our own and their imports: the code base puts google.rpc.Status and
 * its details (ErrorInfo, …) into gRPC error details.
 */
const EXTRA_PROTOS = ["google/rpc/status.proto", "google/rpc/error_details.proto"];

/** What {@linkcode generate} produced. */
export interface GenerateResult {
  /** The directory written. */
  outDir: string;
  /** The generated files, relative to `outDir`, `/`-separated, sorted. */
  files: string[];
  /** `buf --version`. */
  bufVersion: string;
  /** The plugin as buf.gen.yaml names it, e.g. `npm:@bufbuild/protoc-gen-es@2.17.0`. */
  plugin: string;
}

/**
 * Regenerates the protocol code into `outDir`, replacing whatever the directory held.
 *
 * Needs permission to run subprocesses (buf, and Deno for the protoc-gen-es plugin) and to
 * read and write files; installs the npm packages from deno.json if they are missing.
 *
 * @param outDir the directory to (re)create; defaults to `proto/gen/`
 */
export async function generate(outDir: string = DEFAULT_OUT_DIR): Promise<GenerateResult> {
  const buf = await findBuf();
  const bufVersion = (await run(buf, ["--version"], ROOT)).trim();
  const template = await Deno.readTextFile(join(PROTO_DIR, "buf.gen.yaml"));
  const plugin = template.match(/npm:@bufbuild\/protoc-gen-es@[\w.-]+/)?.[0] ?? "protoc-gen-es";
  const scratch = await Deno.makeTempDir({ prefix: "jumpstarter-gen-" });
  try {
    const workspace = join(scratch, "workspace");
    const produced = join(scratch, "out");
    await stageWorkspace(workspace);
    // Lint before anything is written, so a style slip leaves the old output in place.
    await run(buf, ["lint", workspace], PROTO_DIR);
    // buf.gen.yaml names the plugin as `deno`: make that the Deno running us, even when it
    // is not on PATH (as with `npx deno`).
    const path = [dirname(Deno.execPath()), Deno.env.get("PATH") ?? ""].join(delimiter);
    await run(
      buf,
      ["generate", workspace, "--template", "buf.gen.yaml", "--output", produced],
      PROTO_DIR,
      { PATH: path },
    );
    await Deno.remove(outDir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    const source = join(produced, "gen");
    const files = await listFiles(source);
    for (const file of files) {
      const target = join(outDir, file);
      await Deno.mkdir(dirname(target), { recursive: true });
      await Deno.copyFile(join(source, file), target);
    }
    return { outDir, files, bufVersion, plugin };
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

/**
 * Lists the regular files under `dir`, relative to it, `/`-separated and sorted.
 *
 * @param dir the directory to walk
 */
export async function listFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  async function walk(sub: string): Promise<void> {
    for await (const entry of Deno.readDir(join(dir, sub))) {
      const path = sub === "" ? entry.name : `${sub}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) files.push(path);
    }
  }
  await walk("");
  return files.sort();
}

/**
 * Builds a buf workspace holding our buf.yaml and `.proto` files plus the google files they
 * need: buf refuses module paths outside its workspace, and the Buf Schema Registry is out of
 * reach.
 */
async function stageWorkspace(workspace: string): Promise<void> {
  await Deno.mkdir(workspace, { recursive: true });
  await Deno.copyFile(join(PROTO_DIR, "buf.yaml"), join(workspace, "buf.yaml"));
  const ours = (await listFiles(join(PROTO_DIR, "jumpstarter")))
    .filter((f) => f.endsWith(".proto"))
    .map((f) => `jumpstarter/${f}`);
  const pending = [...EXTRA_PROTOS];
  for (const file of ours) {
    await copyInto(workspace, PROTO_DIR, file);
    pending.push(...importsOf(await Deno.readTextFile(join(PROTO_DIR, file))));
  }
  const seen = new Set<string>();
  while (pending.length > 0) {
    const file = pending.pop()!;
    // buf ships the well-known types itself; our own files are already staged.
    if (seen.has(file) || file.startsWith("google/protobuf/") || file.startsWith("jumpstarter/")) {
      continue;
    }
    seen.add(file);
    const text = await Deno.readTextFile(join(GOOGLE_PROTOS, file)).catch(() => {
      throw new Error(`${file} is not in ${GOOGLE_PROTOS}`);
    });
    await copyInto(workspace, GOOGLE_PROTOS, file);
    pending.push(...importsOf(text));
  }
}

/** The files a `.proto` source imports. */
function importsOf(source: string): string[] {
  return [...source.matchAll(/^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm)].map((m) =>
    m[1]
  );
}

async function copyInto(workspace: string, from: string, file: string): Promise<void> {
  const target = join(workspace, file);
  await Deno.mkdir(dirname(target), { recursive: true });
  await Deno.copyFile(join(from, file), target);
}

/**
 * Finds the buf binary from the @bufbuild/buf npm package, installing the npm packages first
 * if they are missing: Deno installs only what a program imports, and nothing imports these.
 */
async function findBuf(): Promise<string> {
  let buf = await bufBinary();
  if (buf === undefined || !(await exists(GOOGLE_PROTOS))) {
    console.error("gen: npm packages missing; running `deno install`");
    await run(Deno.execPath(), ["install"], ROOT);
    buf = await bufBinary();
  }
  if (buf === undefined) {
    throw new Error(
      "the buf binary from @bufbuild/buf is missing from node_modules; " +
        "run `npx -y deno@2.9.6 install` first",
    );
  }
  if (Deno.build.os !== "windows") {
    // Deno skips npm install scripts, which is where the package would set the mode bits.
    const mode = (await Deno.stat(buf)).mode ?? 0;
    if ((mode & 0o111) === 0) await Deno.chmod(buf, mode | 0o755);
  }
  return buf;
}

/**
 * The platform binary package sits next to @bufbuild/buf (its optional dependency), so look
 * beside the package's real location.
 */
async function bufBinary(): Promise<string | undefined> {
  const arch = { x86_64: "x64", aarch64: Deno.build.os === "linux" ? "aarch64" : "arm64" }[
    Deno.build.arch
  ];
  const os = Deno.build.os === "windows" ? "win32" : Deno.build.os;
  const exe = Deno.build.os === "windows" ? "buf.exe" : "buf";
  let pkg: string;
  try {
    pkg = await Deno.realPath(join(ROOT, "node_modules", "@bufbuild", "buf"));
  } catch {
    return undefined;
  }
  const candidate = join(dirname(pkg), `buf-${os}-${arch}`, "bin", exe);
  return (await exists(candidate)) ? candidate : undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Runs a command to completion; returns its stdout, or throws with its stderr. */
async function run(
  cmd: string,
  args: string[],
  cwd: string,
  env?: Record<string, string>,
): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, env, stdin: "null" }).output();
  const decoder = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `\`${basename(cmd)} ${args.join(" ")}\` failed (exit ${out.code}):\n` +
        decoder.decode(out.stderr) + decoder.decode(out.stdout),
    );
  }
  return decoder.decode(out.stdout);
}

if (import.meta.main) {
  try {
    const { files, bufVersion, plugin } = await generate();
    console.log(
      `gen: wrote ${files.length} files to ${relative(ROOT, DEFAULT_OUT_DIR)}/ ` +
        `with buf ${bufVersion} and ${plugin}`,
    );
  } catch (e) {
    console.error(`gen: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
}
