import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, Fields } from "../../config/mod.ts";
import {
  type CallContext,
  DriverTimeoutError,
  InvalidArgumentError,
  type JsonValue,
  type StreamingMethod,
  type UnaryMethod,
} from "../framework/mod.ts";
import { gone, readPidFile } from "../../tests/fixtures/processes.ts";
import { createShell, type ShellDriver } from "./mod.ts";
import { withTempDir } from "../../tests/fixtures/temp_dir.ts";

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const context = (signal = new AbortController().signal): CallContext => ({ signal, log: silent });

function build(config: Record<string, unknown>, baseDir = tmpdir()): ShellDriver {
  const fields = new Fields(config, { file: "bench.yaml", path: "export.shell.config" });
  const driver = createShell(fields, {
    name: "shell",
    path: "export.shell",
    file: "bench.yaml",
    baseDir,
    children: {},
    log: silent,
  });
  fields.done();
  return driver;
}

async function call(driver: ShellDriver, args: JsonValue[], signal?: AbortSignal) {
  const method = driver.methods.call_method as StreamingMethod;
  const chunks: [string, string, number | null][] = [];
  for await (const item of method.call(args, context(signal))) {
    chunks.push(item as [string, string, number | null]);
  }
  return {
    stdout: chunks.map((c) => c[0]).join(""),
    stderr: chunks.map((c) => c[1]).join(""),
    code: chunks.at(-1)?.[2],
    codes: chunks.map((c) => c[2]),
  };
}

Deno.test("get_methods lists the configured commands in config order", async () => {
  const driver = build({
    methods: { b: "true", a: { command: "true\necho more", description: "A" } },
  });
  const list = await (driver.methods.get_methods as UnaryMethod).call([], context());
  assert.deepEqual(list, ["b", "a"]);
  assert.equal(driver.client, "jumpstarter_driver_shell.client.ShellClient");
  assert.equal(driver.description, "Shell commands: b, a");
  assert.deepEqual(driver.commands.map(({ name, description }) => ({ name, description })), [
    { name: "b", description: "true" },
    { name: "a", description: "A" },
  ]);
  assert.deepEqual(driver.methodsDescription, { b: "true", a: "A" });
  await assert.rejects(
    async () => await (driver.methods.get_methods as UnaryMethod).call([1], context()),
    InvalidArgumentError,
  );
});

Deno.test("call_method streams stdout and stderr and ends with the exit code", async () => {
  const driver = build({ methods: { mixed: "echo out; echo err >&2; exit 3" } });
  const run = await call(driver, ["mixed", {}]);
  assert.equal(run.stdout, "out\n");
  assert.equal(run.stderr, "err\n");
  assert.equal(run.code, 3);
  assert.ok(run.codes.slice(0, -1).every((c) => c === null), "only the last chunk has a code");
});

Deno.test(
  "arguments reach $1.., env and cwd reach the command",
  withTempDir(async (dir) => {
    writeFileSync(join(dir, "marker"), "here\n");
    const driver = build({
      methods: { show: 'echo "$0:$1:$2:$GREETING:$EXTRA"; cat marker' },
      cwd: ".",
      env: { GREETING: "hi" },
    }, dir);
    const run = await call(driver, ["show", { EXTRA: "x" }, "one", "two words"]);
    assert.equal(run.stdout, "show:one:two words:hi:x\nhere\n");
    assert.equal(run.code, 0);
    const noEnv = await call(driver, ["show", null]);
    assert.equal(noEnv.stdout, "show:::hi:\nhere\n", "a null env adds nothing");
  }),
);

Deno.test(
  "a command over its own timeout is killed with its children",
  withTempDir(async (dir) => {
    const pidFile = join(dir, "pid");
    const driver = build({
      timeout: 300,
      // The sleep does not hold the output pipes: only the group kill can end it in time.
      methods: {
        slow: { command: `sleep 30 >/dev/null 2>&1 & echo $! > ${pidFile}; wait`, timeout: 0.3 },
      },
    });
    const err = await call(driver, ["slow", {}]).catch((e) => e);
    assert.ok(err instanceof DriverTimeoutError, String(err));
    assert.equal(err.message, "slow: timed out after 0.3s");
    assert.ok(await gone(await readPidFile(pidFile)), "the background sleep is gone too");
  }),
);

Deno.test(
  "aborting the call stops the command",
  withTempDir(async (dir) => {
    const pidFile = join(dir, "pid");
    const driver = build({ methods: { slow: `echo $$ > ${pidFile}; echo started; sleep 30` } });
    const abort = new AbortController();
    const method = driver.methods.call_method as StreamingMethod;
    const seen: string[] = [];
    const err = await (async () => {
      for await (const item of method.call(["slow", {}], context(abort.signal))) {
        seen.push((item as string[])[0]);
        abort.abort(new Error("caller went away"));
      }
    })().catch((e) => e);
    assert.deepEqual(seen, ["started\n"]);
    assert.match(String(err), /caller went away/);
    assert.ok(await gone(Number(readFileSync(pidFile, "utf8"))));
  }),
);

Deno.test("an unknown command names the configured ones", async () => {
  const driver = build({ methods: { a: "true", b: "true" } });
  const err = await call(driver, ["c", {}]).catch((e) => e);
  assert.ok(err instanceof InvalidArgumentError);
  assert.equal(err.message, 'no command "c" (configured: a, b)');
});

Deno.test("call_method refuses bad environment variables", async () => {
  const driver = build({ methods: { a: "true" } });
  await assert.rejects(
    () => call(driver, ["a", { "BAD-NAME": "x" }]),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /invalid environment variable name "BAD-NAME"/.test(e.message),
  );
  await assert.rejects(() => call(driver, ["a", { LIST: [1] }]), InvalidArgumentError);
  await assert.rejects(() => call(driver, ["a", "not a map"]), InvalidArgumentError);
});

Deno.test("config mistakes name their YAML path", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{}, /export\.shell\.config\.methods: is required/],
    [{ methods: {} }, /export\.shell\.config\.methods: must name at least one command/],
    [{ methods: { a: 3 } }, /export\.shell\.config\.methods\.a: must be a command string/],
    [{ methods: { a: ["ls"] } }, /export\.shell\.config\.methods\.a: must be a command string/],
    [{ methods: { a: "" } }, /export\.shell\.config\.methods\.a: must not be empty/],
    [{ methods: { a: {} } }, /export\.shell\.config\.methods\.a\.command: is required/],
    [
      { methods: { a: { command: "x", timout: 3 } } },
      /methods\.a: unknown key "timout" \(did you mean "timeout"\?\)/,
    ],
    [
      { methods: { a: { command: "x", timeout: "soon" } } },
      /methods\.a\.timeout: must be a number, got "soon"/,
    ],
    [{ methods: { a: "x" }, timeout: -1 }, /config\.timeout: must be at least 0, got -1/],
    [{ methods: { a: "x" }, shell: [] }, /config\.shell: must name a program/],
    [{ methods: { a: "x" }, shel: ["sh"] }, /unknown key "shel"/],
  ];
  for (const [config, message] of cases) {
    assert.throws(() => build(config), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, message);
      assert.ok(err.message.startsWith("bench.yaml: "));
      return true;
    });
  }
});
