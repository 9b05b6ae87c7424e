import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, Fields } from "../../config/mod.ts";
import {
  type CallContext,
  DeviceUnavailableError,
  type Driver,
  DriverError,
  type DriverFactory,
  DriverTimeoutError,
  InvalidArgumentError,
  type JsonValue,
  NotImplementedError,
  type StreamingMethod,
  type UnaryMethod,
} from "../framework/mod.ts";
import {
  createCommandPower,
  createHttpPower,
  createMockPower,
  type MockPowerDriver,
} from "./mod.ts";

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const ctx = (): CallContext => ({ signal: new AbortController().signal, log: silent });

async function build(factory: DriverFactory, config: Record<string, unknown>): Promise<Driver> {
  const fields = new Fields(config, { file: "bench.yaml", path: "export.power.config" });
  const driver = await factory(fields, {
    name: "power",
    path: "export.power",
    file: "bench.yaml",
    baseDir: tmpdir(),
    children: {},
    log: silent,
  });
  fields.done();
  return driver;
}

const invoke = (d: Driver, name: string, args: JsonValue[] = []) =>
  (d.methods[name] as UnaryMethod).call(args, ctx());

async function readAll(d: Driver) {
  const out = [];
  for await (const r of (d.methods.read as StreamingMethod).call([], ctx())) out.push(r);
  return out;
}

Deno.test("MockPower keeps its state and reads upstream's mock values", async () => {
  const power = await build(createMockPower, {}) as MockPowerDriver;
  assert.equal(power.client, "jumpstarter_driver_power.client.PowerClient");
  assert.equal(power.isOn, false);
  await invoke(power, "on");
  assert.equal(power.isOn, true);
  assert.deepEqual(await readAll(power), [{ voltage: 0, current: 0 }, { voltage: 5, current: 2 }]);
  await invoke(power, "off");
  assert.equal(power.isOn, false);
  await invoke(power, "on");
  await power.reset?.();
  assert.equal(power.isOn, false, "reset turns it off");
  await assert.rejects(async () => await invoke(power, "on", [1]), InvalidArgumentError);
});

Deno.test("CommandPower runs the configured commands", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jmp-power-"));
  try {
    const state = join(dir, "state");
    const power = await build(createCommandPower, {
      on: `echo on > ${state}`,
      off: `echo "$OUTLET off" > ${state}`,
      read: `echo '{"voltage": 12.1, "current": 0.5}'`,
      env: { OUTLET: "3" },
    });
    await invoke(power, "on");
    assert.equal(readFileSync(state, "utf8"), "on\n");
    await invoke(power, "off");
    assert.equal(readFileSync(state, "utf8"), "3 off\n");
    assert.deepEqual(await readAll(power), [{ voltage: 12.1, current: 0.5 }]);
    const plain = await build(createCommandPower, { on: "true", off: "true", read: "echo 5 0.25" });
    assert.deepEqual(await readAll(plain), [{ voltage: 5, current: 0.25 }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("CommandPower reports failures, timeouts and a missing read command", async () => {
  const failing = await build(createCommandPower, {
    on: "echo relay busy >&2; exit 3",
    off: "sleep 30",
    timeout: 0.2,
  });
  const err = await Promise.resolve(invoke(failing, "on")).then(() => undefined, (e) => e);
  assert.ok(err instanceof DriverError);
  assert.equal(err.message, "on: command exited with 3: relay busy");
  await assert.rejects(async () => await invoke(failing, "off"), DriverTimeoutError);
  await assert.rejects(() => readAll(failing), NotImplementedError);
  const missing = await build(createCommandPower, { on: "/nonexistent/relayctl", off: "true" });
  await assert.rejects(async () => await invoke(missing, "on"), /on: command exited with 127/);
  await assert.rejects(
    () => build(createCommandPower, { off: "true" }),
    (e: unknown) =>
      e instanceof ConfigError && /export\.power\.config\.on: is required/.test(e.message),
  );
});

Deno.test("HttpPower drives a PDU over HTTP and reports its errors", async () => {
  const requests: string[] = [];
  let outlet = "off";
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      requests.push(`${req.method} ${req.url} ${body} ${req.headers.authorization ?? ""}`.trim());
      if (req.url === "/outlets/1/on") outlet = "on";
      else if (req.url === "/outlets/1/off") outlet = "off";
      else if (req.url === "/meter") return res.end(JSON.stringify({ voltage: 230, current: 0.1 }));
      else if (req.url === "/broken") return res.writeHead(500).end("relay fault");
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const power = await build(createHttpPower, {
      url,
      on: "/outlets/1/on",
      off: { method: "put", path: "/outlets/1/off", body: "now" },
      read: "/meter",
      username: "admin",
      password: "secret",
    });
    await invoke(power, "on");
    assert.equal(outlet, "on");
    await invoke(power, "off");
    assert.equal(outlet, "off");
    assert.deepEqual(await readAll(power), [{ voltage: 230, current: 0.1 }]);
    const basic = `Basic ${btoa("admin:secret")}`;
    assert.deepEqual(requests, [
      `POST /outlets/1/on  ${basic}`,
      `PUT /outlets/1/off now ${basic}`,
      `GET /meter  ${basic}`,
    ]);
    const broken = await build(createHttpPower, { url, on: "/broken", off: "/broken" });
    await assert.rejects(
      async () => await invoke(broken, "on"),
      /on: POST .*\/broken answered 500: relay fault/,
    );
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  const gone = await build(createHttpPower, { url, on: "/x", off: "/x" });
  await assert.rejects(async () => await invoke(gone, "on"), DeviceUnavailableError);
});
