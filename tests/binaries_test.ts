// End-to-end checks of the jmp binaries: builds them with build/compile.ts into a temp dir
// and runs them (arm64 ones under qemu-aarch64 when it is there), and runs cli/ under Deno.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import {
  BINARIES,
  type BinaryName,
  type BuiltBinary,
  compile,
  type CompileOptions,
  hostTarget,
  parseCompileArgs,
  pinnedBunVersion,
  plan,
  ROOT,
  type Target,
} from "../build/compile.ts";
import { VERSION } from "../cli/version.ts";
import { ignoreUnlessInstalled } from "./fixtures/optional_tools.ts";
import { startUntil } from "./fixtures/processes_io.ts";
import { startKubeApi } from "./fixtures/kube_api/mod.ts";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "jmp-binaries-"));
globalThis.addEventListener("unload", () => fs.rmSync(TMP, { recursive: true, force: true }));

const HOST = hostTarget();
const BUN = `bun ${pinnedBunVersion()}`;

// Each build runs once, however many tests use it.
const builds = new Map<string, Promise<BuiltBinary[]>>();
function build(key: string, options: CompileOptions): Promise<BuiltBinary[]> {
  let built = builds.get(key);
  if (built === undefined) {
    built = compile({ outDir: path.join(TMP, key), log: () => {}, ...options });
    builds.set(key, built);
  }
  return built;
}
function hostBinaries(): Promise<BuiltBinary[]> {
  return build("host", { targets: [HOST], toolchain: "bun" });
}
function arm64Binaries(): Promise<BuiltBinary[]> {
  return build("arm64", { targets: ["linux-arm64"], toolchain: "bun" });
}

function run(file: string, args: string[], prefix: string[] = []) {
  const [cmd, ...cmdArgs] = [...prefix, file, ...args];
  const result = spawnSync(cmd, [...cmdArgs], { encoding: "utf8", cwd: ROOT, timeout: 60_000 });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function header(file: string, length: number): Uint8Array {
  const fd = fs.openSync(file, "r");
  try {
    const bytes = new Uint8Array(length);
    fs.readSync(fd, bytes, 0, length, 0);
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}

/** e_machine of a 64-bit little-endian ELF file, or undefined if `file` is not one. */
function elfMachine(file: string): number | undefined {
  const h = header(file, 20);
  const magic = h[0] === 0x7f && h[1] === 0x45 && h[2] === 0x4c && h[3] === 0x46;
  if (!magic || h[4] !== 2 || h[5] !== 1) return undefined;
  return h[18] | (h[19] << 8);
}

const EM_AARCH64 = 0xb7;

// qemu-aarch64 runs the arm64 binaries; they are dynamically linked against glibc, so it
// also needs an aarch64 sysroot (Debian: libc6-arm64-cross).
function findQemu(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter).concat("/usr/bin")) {
    const file = path.join(dir, "qemu-aarch64");
    if (dir !== "" && fs.existsSync(file)) return file;
  }
  return undefined;
}
const QEMU = findQemu();
const SYSROOT = process.env.QEMU_LD_PREFIX ?? "/usr/aarch64-linux-gnu";
const HAS_SYSROOT = fs.existsSync(path.join(SYSROOT, "lib", "ld-linux-aarch64.so.1"));
const QEMU_MISSING = QEMU === undefined
  ? "qemu-aarch64 not found (apt-get install qemu-user)"
  : !HAS_SYSROOT
  ? `no aarch64 glibc in ${SYSROOT} (apt-get install libc6-arm64-cross)`
  : undefined;
const QEMU_PREFIX = QEMU === undefined ? [] : [QEMU, "-L", SYSROOT];

function checkVersion(file: string, name: BinaryName, runtime: string, platform: Target) {
  const text = run(file, ["--version"], platform === HOST ? [] : QEMU_PREFIX);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout, `${name} ${VERSION} (${runtime}, ${platform})\n`);
}

Deno.test("cli entry points run under deno", () => {
  for (const name of BINARIES) {
    const entry = ["run", "-A", path.join("cli", `${name}.ts`)];
    const version = run(process.execPath, [...entry, "--version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `${name} ${VERSION} (deno ${process.versions.deno}, ${HOST})\n`);
    const unknown = run(process.execPath, [...entry, "frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, `error: unknown command "frobnicate" (see '${name} --help')\n`);
  }
});

Deno.test("compile plans --all, --target and --only as documented", () => {
  assert.deepEqual(plan({ all: true }).map((e) => `${e.target}:${e.binaries.join("+")}`), [
    "linux-x64:jmp+jmp-exporter+jmp-controller",
    "linux-arm64:jmp+jmp-exporter+jmp-controller",
    "darwin-arm64:jmp",
    "darwin-x64:jmp",
    "windows-x64:jmp",
  ]);
  assert.deepEqual(parseCompileArgs(["--target", "linux-x64,linux-arm64", "--only", "jmp"]), {
    targets: ["linux-x64", "linux-arm64"],
    all: false,
    only: ["jmp"],
    toolchain: "auto",
    outDir: undefined,
  });
  assert.deepEqual(plan({ all: true, only: ["jmp-exporter"] }).map((e) => e.target), [
    "linux-x64",
    "linux-arm64",
  ]);
  assert.throws(() => parseCompileArgs(["--target", "plan9-mips"]), /unknown target "plan9-mips"/);
  assert.throws(() => plan({ all: true, targets: ["linux-x64"] }), /either --all or --target/);
});

Deno.test(`${HOST} binaries: --version prints the version from deno.json`, async () => {
  const built = await hostBinaries();
  assert.deepEqual(built.map((b) => b.name), [...BINARIES]);
  for (const b of built) {
    assert.ok(b.size > 1_000_000, `${b.path} is only ${b.size} bytes`);
    checkVersion(b.path, b.name, b.toolchain, HOST);
  }
});

Deno.test(`${HOST} binaries: --version -o json reports the bun runtime`, async () => {
  for (const b of await hostBinaries()) {
    for (const flags of [["--version", "-o", "json"], ["version", "--output=json"]]) {
      const result = run(b.path, flags);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), {
        name: b.name,
        version: VERSION,
        runtime: b.toolchain,
        platform: HOST,
      });
    }
  }
  assert.equal((await hostBinaries())[0].toolchain, BUN);
});

Deno.test("toolchain auto tries deno compile and falls back to bun", async () => {
  const lines: string[] = [];
  const [b] = await compile({
    targets: [HOST],
    only: ["jmp"],
    toolchain: "auto",
    outDir: path.join(TMP, "auto"),
    log: (line) => lines.push(line),
  });
  if (b.toolchain === BUN) {
    // Where denort cannot be downloaded (as on this project's machines).
    assert.match(lines[0], /^deno compile is unavailable: .*; falling back to bun /);
  } else {
    assert.equal(b.toolchain, `deno ${process.versions.deno}`);
  }
  checkVersion(b.path, "jmp", b.toolchain, HOST);
});

// The commands each binary has so far.
const COMMANDS: Record<BinaryName, string[]> = {
  jmp: [
    "shell",
    "create",
    "get",
    "update",
    "delete",
    "config",
    "install",
    "client",
    "exporter",
    "j",
    "admin",
    "help",
    "version",
  ],
  "jmp-exporter": ["run", "serve", "help", "version"],
  "jmp-controller": ["run", "admin", "help", "version"],
};

Deno.test(`${HOST} binaries: --help lists the commands that exist`, async () => {
  for (const b of await hostBinaries()) {
    const result = run(b.path, ["--help"]);
    assert.equal(result.code, 0, result.stderr);
    const commands = result.stdout.split("Commands:\n")[1].split("\n\n")[0];
    assert.deepEqual(
      commands.split("\n").map((line) => line.trim().split(/\s+/)[0]),
      COMMANDS[b.name],
    );
    assert.match(result.stdout, new RegExp(`^Jumpstarter \\w+: `));
    assert.match(result.stdout, new RegExp(`Usage:\\n  ${b.name} <command>`));
  }
});

Deno.test(`${HOST} binaries: an unknown command is one error line and exit 2`, async () => {
  for (const b of await hostBinaries()) {
    const result = run(b.path, ["frobnicate"]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.equal(result.stderr, `error: unknown command "frobnicate" (see '${b.name} --help')\n`);
    const debug = run(b.path, ["--debug", "frobnicate"]);
    assert.equal(debug.code, 2);
    assert.match(debug.stderr, /^error: unknown command "frobnicate"/);
    assert.match(debug.stderr, /\n {4}at .*cli\/command\.ts:\d+/, "--debug shows a mapped stack");
  }
});

Deno.test(`${HOST} jmp runs a local-mode session, and answers to the name j`, async () => {
  const jmp = (await hostBinaries()).find((b) => b.name === "jmp")!;
  const demo = path.join(ROOT, "examples/demo-exporter.yaml");
  const session = run(jmp.path, [
    "shell",
    "--exporter-config",
    demo,
    "--",
    "sh",
    "-c",
    "j power on && j board shell greet binary",
  ]);
  assert.equal(session.stdout, "power on\nhello, binary\n", session.stderr);
  assert.equal(session.code, 0);
  // Installed as a link named j, the binary is the driver command itself.
  const link = path.join(TMP, "j");
  fs.rmSync(link, { force: true });
  fs.symlinkSync(jmp.path, link);
  const outside = run(link, ["power", "on"]);
  assert.equal(outside.code, 1);
  assert.match(outside.stderr, /run it inside `jmp shell`/);
});

Deno.test(`${HOST} jmp carries byte streams: j NAME connect through a network driver`, async () => {
  const jmp = (await hostBinaries()).find((b) => b.name === "jmp")!;
  const config = path.join(ROOT, "tests/fixtures/network-exporter.yaml");
  const session = run(jmp.path, [
    ...["shell", "--exporter-config", config, "--"],
    ...["sh", "-c", "printf 'through the binary' | j echo connect"],
  ]);
  assert.equal(session.stdout, "through the binary", session.stderr);
  assert.equal(session.code, 0);
});

Deno.test(`${HOST} binaries: a controller, an exporter and a leased shell, all compiled`, async () => {
  const binaries = await hostBinaries();
  const bin = (name: BinaryName) => binaries.find((b) => b.name === name)!.path;
  const dir = fs.mkdtempSync(path.join(TMP, "lab-"));
  const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, "xdg") };
  const data = path.join(dir, "data");
  const controller = await startUntil(
    [bin("jmp-controller"), "run", "--data-dir", data, "--listen", "127.0.0.1:0"]
      .concat(["--router-listen", "127.0.0.1:0"]),
    env,
    "stdout",
    "advertised endpoint",
  );
  let exporter: Awaited<ReturnType<typeof startUntil>> | undefined;
  try {
    const admin = (args: string[]) =>
      spawnSync(bin("jmp"), ["admin", ...args, "--data-dir", data], { env, encoding: "utf8" });
    const exporterFile = path.join(dir, "bench.yaml");
    assert.equal(
      admin(["create", "exporter", "bench", "-l", "board=rpi4", "--out", exporterFile]).status,
      0,
    );
    fs.writeFileSync(
      exporterFile,
      fs.readFileSync(exporterFile, "utf8").replace(
        /^export:.*$/m,
        "export:\n  power: {type: MockPower}",
      ),
    );
    assert.equal(admin(["create", "client", "alice", "--save"]).status, 0);
    exporter = await startUntil(
      [bin("jmp-exporter"), "run", "-c", exporterFile],
      env,
      "stderr",
      "registered with the controller",
    );
    const shell = spawnSync(bin("jmp"), ["shell", "-l", "board=rpi4", "--", "j", "power", "on"], {
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(shell.stdout, "power on\n", shell.stderr);
    assert.equal(shell.status, 0);
  } finally {
    await exporter?.stop();
    await controller.stop();
  }
});

Deno.test(`${HOST} jmp-controller keeps its state in Kubernetes, compiled`, async () => {
  const controller = (await hostBinaries()).find((b) => b.name === "jmp-controller")!;
  await using api = await startKubeApi({ namespace: "lab" });
  const dir = fs.mkdtempSync(path.join(TMP, "kube-"));
  const kubeconfig = path.join(dir, "kubeconfig");
  fs.writeFileSync(kubeconfig, api.kubeconfig);
  const running = await startUntil(
    [controller.path, "run", "--store", "kubernetes", "--kubeconfig", kubeconfig]
      .concat(["--namespace", "lab", "--data-dir", path.join(dir, "data"), "--insecure-plaintext"])
      .concat(["--listen", "127.0.0.1:0", "--router-listen", "127.0.0.1:0", "--no-metrics"]),
    process.env,
    "stdout",
    "advertised endpoint",
  );
  try {
    assert.match(running.output, /state: custom resources in Kubernetes namespace lab/);
    for (
      let i = 0;
      i < 100 && !api.object("leases.coordination.k8s.io", "lab", "jumpstarter-controller");
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(
      api.object("leases.coordination.k8s.io", "lab", "jumpstarter-controller"),
      "it takes part in the election",
    );
  } finally {
    await running.stop();
  }
});

Deno.test("linux-arm64 binaries are aarch64 ELF files", async () => {
  const built = await arm64Binaries();
  assert.deepEqual(built.map((b) => b.name), [...BINARIES]);
  for (const b of built) assert.equal(elfMachine(b.path), EM_AARCH64, b.path);
});

Deno.test({
  name: `linux-arm64 binaries run under qemu-aarch64${
    QEMU_MISSING ? ` (ignored: ${QEMU_MISSING})` : ""
  }`,
  ignore: ignoreUnlessInstalled(QEMU_MISSING),
  async fn() {
    for (const b of await arm64Binaries()) {
      checkVersion(b.path, b.name, BUN, "linux-arm64");
      const json = run(b.path, ["--version", "-o", "json"], QEMU_PREFIX);
      assert.equal(JSON.parse(json.stdout).platform, "linux-arm64");
    }
  },
});

Deno.test("linux-arm64 builds with the Bun runtime fetched by npm pack", async () => {
  const [b] = await build("arm64-npm", {
    targets: ["linux-arm64"],
    only: ["jmp"],
    toolchain: "bun",
    crossRuntime: "npm",
  });
  assert.equal(elfMachine(b.path), EM_AARCH64);
  const runtime = path.join(
    ROOT,
    "node_modules/.cache/jumpstarter-bun",
    `bun-linux-aarch64-${pinnedBunVersion()}`,
  );
  assert.equal(
    JSON.parse(fs.readFileSync(path.join(runtime, "package.json"), "utf8")).version,
    pinnedBunVersion(),
  );
  if (QEMU_MISSING === undefined) checkVersion(b.path, "jmp", BUN, "linux-arm64");
});

Deno.test("windows-x64 jmp is a PE file for x86-64", async () => {
  const [b] = await build("windows", {
    targets: ["windows-x64"],
    only: ["jmp"],
    toolchain: "bun",
  });
  assert.equal(path.basename(b.path), "jmp.exe");
  const h = header(b.path, 4096);
  assert.equal(String.fromCharCode(h[0], h[1]), "MZ");
  const pe = new DataView(h.buffer).getUint32(0x3c, true);
  assert.equal(String.fromCharCode(...h.subarray(pe, pe + 4)), "PE\0\0");
  assert.equal(new DataView(h.buffer).getUint16(pe + 4, true), 0x8664);
});
