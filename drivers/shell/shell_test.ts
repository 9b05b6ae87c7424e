import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, Fields } from "../../config/mod.ts";
import {
  type CallContext,
  type Driver,
  DriverTimeoutError,
  InvalidArgumentError,
  type JsonValue,
  type StreamingMethod,
} from "../framework/mod.ts";
import { createShell } from "./shell.ts";

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function build(config: Record<string, unknown>, baseDir = tmpdir()): Driver {
  const fields = new Fields(config, { file: "bench.yaml", path: "export.shell.config" });
  const driver = createShell(fields, {
    name: "shell",
    path: "export.shell",
    file: "bench.yaml",
    baseDir,
    children: {},
    log: silent,
  }) as Driver;
  fields.done();
  return driver;
}

async function call(driver: Driver, args: JsonValue[], signal = new AbortController().signal) {
  const method = driver.methods.call_method as StreamingMethod;
  const ctx: CallContext = { signal, log: silent };
  let stdout = "";
  let stderr = "";
  let code: JsonValue = null;
  for await (const item of method.call(args, ctx)) {
    const [out, err, rc] = item as [string, string, number | null];
    stdout += out;
    stderr += err;
    if (rc !== null) code = rc;
  }
  return { stdout, stderr, code };
}

// Running or sleeping; a zombie waiting for a reaper (containers often lack one) is dead.
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

Deno.test("get_methods lists the configured commands in order", async () => {
  const driver = build({ methods: { b: "true", a: { command: "true", description: "A" } } });
  const list =
    await (driver.methods.get_methods as { call: (a: JsonValue[], c: CallContext) => unknown })
      .call([], { signal: new AbortController().signal, log: silent });
  assert.deepEqual(list, ["b", "a"]);
  assert.deepEqual(driver.methodsDescription, { b: "true", a: "A" });
});

Deno.test("call_method streams stdout and stderr and ends with the exit code", async () => {
  const driver = build({ methods: { mixed: "echo out; echo err >&2; exit 3" } });
  assert.deepEqual(await call(driver, ["mixed", {}]), {
    stdout: "out\n",
    stderr: "err\n",
    code: 3,
  });
});

Deno.test("arguments reach $1.., env and cwd reach the command", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jmp-shell-"));
  try {
    writeFileSync(join(dir, "marker"), "here\n");
    const driver = build({
      methods: { show: 'echo "$0:$1:$2:$GREETING:$EXTRA"; cat marker' },
      cwd: ".",
      env: { GREETING: "hi" },
    }, dir);
    const run = await call(driver, ["show", { EXTRA: "x" }, "one", "two words"]);
    assert.equal(run.stdout, "show:one:two words:hi:x\nhere\n");
    assert.equal(run.code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("a command over its timeout is killed with its children", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jmp-shell-"));
  try {
    const pidFile = join(dir, "pid");
    const driver = build({
      // The sleep does not hold the output pipes: only the group kill can end it in time.
      methods: {
        slow: { command: `sleep 30 >/dev/null 2>&1 & echo $! > ${pidFile}; wait`, timeout: 0.3 },
      },
    });
    const err = await call(driver, ["slow", {}]).catch((e) => e);
    assert.ok(err instanceof DriverTimeoutError, String(err));
    assert.match(err.message, /^slow: timed out after 0.3s$/);
    const pid = Number(readFileSync(pidFile, "utf8"));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(!alive(pid), "the background sleep is gone too");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("aborting the call stops the command", async () => {
  const driver = build({ methods: { slow: "echo started; sleep 30" } });
  const abort = new AbortController();
  const method = driver.methods.call_method as StreamingMethod;
  const seen: string[] = [];
  const err = await (async () => {
    for await (const item of method.call(["slow", {}], { signal: abort.signal, log: silent })) {
      seen.push((item as string[])[0]);
      abort.abort(new Error("caller went away"));
    }
  })().catch((e) => e);
  assert.deepEqual(seen, ["started\n"]);
  assert.match(String(err), /caller went away/);
});

Deno.test("an unknown command names the configured ones", async () => {
  const driver = build({ methods: { a: "true", b: "true" } });
  const err = await call(driver, ["c", {}]).catch((e) => e);
  assert.ok(err instanceof InvalidArgumentError);
  assert.equal(err.message, 'no command "c" (configured: a, b)');
});

Deno.test("config mistakes name their YAML path", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{}, /export\.shell\.config\.methods: is required/],
    [{ methods: { a: 3 } }, /export\.shell\.config\.methods\.a: must be a command string/],
    [
      { methods: { a: { command: "x", timout: 3 } } },
      /methods\.a: unknown key "timout" \(did you mean "timeout"\?\)/,
    ],
    [{ methods: { a: "x" }, timeout: -1 }, /config\.timeout: must be at least 0, got -1/],
    [{ methods: { a: "x" }, shel: ["sh"] }, /unknown key "shel"/],
  ];
  for (const [config, message] of cases) {
    assert.throws(() => build(config), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, message);
      assert.ok(err.message.startsWith("bench.yaml: "));
      return true;
    });
  }
});
