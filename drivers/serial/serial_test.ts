import { strict as assert } from "node:assert";
import { join } from "node:path";
import { connectExporter } from "../../client/mod.ts";
import { ConfigError } from "../../config/mod.ts";
import { BOARD_LOGIN, fakeBoard } from "../../tests/fixtures/fake_board.ts";
import { withLocalExporter } from "../../tests/fixtures/local_exporter.ts";
import { ignoreUnlessInstalled } from "../../tests/fixtures/optional_tools.ts";
import { SOCAT_MISSING, startPtyPair } from "../../tests/fixtures/pty_pair.ts";
import { withTempDir } from "../../tests/fixtures/temp_dir.ts";
import { build } from "../../tests/fixtures/driver_harness.ts";
import type { SerialClient } from "./client.ts";
import { ExpectTimeoutError } from "./console.ts";
import { createSerial } from "./serial.ts";

const skip = SOCAT_MISSING ? ` (ignored: ${SOCAT_MISSING})` : "";

function config(device: string): string {
  return `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: serial }
export:
  serial:
    type: jumpstarter_driver_pyserial.driver.PySerial
    config: { url: ${device}, baudrate: 115200 }
`;
}

async function login(serial: SerialClient) {
  const console = await serial.open();
  await console.sendLine("");
  await console.expect(/login: $/);
  await console.sendLine(BOARD_LOGIN.user);
  await console.expect("Password: ");
  await console.sendLine(BOARD_LOGIN.password);
  await console.expect("# ");
  return console;
}

Deno.test({
  name: `the expect helper logs in to a board on a real pty through the exporter${skip}`,
  ignore: ignoreUnlessInstalled(SOCAT_MISSING),
  fn: withTempDir(async (dir) => {
    const pair = await startPtyPair(dir);
    const board = fakeBoard(pair.board);
    try {
      await withLocalExporter(config(pair.device), async ({ address }) => {
        await using exporter = await connectExporter(address);
        const serial = exporter.root.child("serial") as SerialClient;
        const console = await login(serial);
        await console.sendLine("uname");
        const [line] = await console.expect(/FakeOS[^\r]*/);
        assert.equal(line, BOARD_LOGIN.uname);
        const late = await console.expect(/never printed/, { timeoutMs: 100 }).catch((e) => e);
        assert.ok(late instanceof ExpectTimeoutError);
        assert.match(late.message, /expected \/never printed\/ within 100 ms; last output: /);
        await console.close();
        // Closing released the port: a second session opens it again.
        const again = await serial.open();
        await again.sendLine("hello");
        await again.expect("hello");
        await again.close();
      });
    } finally {
      board.stop();
      await pair.stop();
    }
  }),
});

Deno.test({
  name: `an unplugged adapter ends the session with a clear error; re-plugged, it works${skip}`,
  ignore: ignoreUnlessInstalled(SOCAT_MISSING),
  fn: withTempDir(async (dir) => {
    let pair = await startPtyPair(dir);
    let board = fakeBoard(pair.board);
    try {
      await withLocalExporter(config(pair.device), async ({ address }) => {
        await using exporter = await connectExporter(address);
        const serial = exporter.root.child("serial") as SerialClient;
        const console = await login(serial);
        board.stop();
        await pair.stop(); // unplugged
        const err = await console.expect(/# /, { timeoutMs: 5000 }).catch((e) => e);
        assert.ok(err instanceof Error);
        assert.ok(!(err instanceof ExpectTimeoutError), `the session ended: ${err.message}`);
        await console.close();
        const gone = await serial.open().then((c) => c.close(), (e) => e);
        assert.match(String(gone), /not present \(unplugged\?\)|serial /);
        pair = await startPtyPair(dir); // plugged back in
        board = fakeBoard(pair.board);
        const back = await login(serial);
        await back.close();
      });
    } finally {
      board.stop();
      await pair.stop();
    }
  }),
});

Deno.test("serial config mistakes name their YAML path", async () => {
  await assert.rejects(
    () => build(createSerial, { url: "/dev/does-not-exist" }, "/", "serial"),
    (e: unknown) =>
      e instanceof ConfigError &&
      /export\.serial\.config\.url: \/dev\/does-not-exist does not exist/.test(e.message),
  );
  await assert.rejects(
    () => build(createSerial, { url: "/dev/null", baudrate: 12345 }, "/", "serial"),
    /baudrate: must be a standard speed/,
  );
  const lazy = await build(
    createSerial,
    { url: join("/dev", "later"), check_present: false },
    "/",
    "serial",
  );
  assert.equal(lazy.client, "jumpstarter_driver_pyserial.client.PySerialClient");
});
