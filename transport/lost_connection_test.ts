import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ExporterService } from "../proto/mod.ts";
import { callUnary, createChannel, serve } from "./mod.ts";
import { makeTestCerts } from "../tests/fixtures/certs.ts";

// A server that accepts connections and resets each at its first bytes.
async function withResettingServer(unix: boolean, fn: (target: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), "jmp-lost-"));
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => socket.resetAndDestroy());
  });
  const path = join(dir, "s.sock");
  await new Promise<void>((resolve) => {
    if (unix) server.listen(path, resolve);
    else server.listen(0, "127.0.0.1", resolve);
  });
  try {
    await fn(unix ? `unix:${path}` : `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

// Runs the three kinds of call (connect-es unary, connect-es stream, lean unary) on fresh
// channels to `target`; returns their errors.
async function callsTo(target: string): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const kind of ["unary", "stream", "lean"]) {
    const channel = createChannel(target, { tls: false });
    try {
      const client = createClient(ExporterService, channel.transport);
      if (kind === "unary") await client.getReport({});
      else if (kind === "stream") { for await (const _ of client.logStream({})) { /* none */ } }
      else await callUnary(channel, ExporterService.method.getReport, {});
      errors.push(new Error(`${kind}: the call succeeded`));
    } catch (err) {
      errors.push(err);
    } finally {
      channel.close();
    }
  }
  return errors;
}

function assertLost(err: unknown, target: string, hint: boolean) {
  assert.ok(err instanceof ConnectError, String(err));
  assert.equal(Code[err.code], Code[Code.Unavailable], err.message);
  assert.ok(
    err.rawMessage.startsWith(`the connection to ${target} was lost before the call finished (`),
    err.rawMessage,
  );
  assert.equal(/TLS server dialled in plaintext/.test(err.rawMessage), hint, err.rawMessage);
}

Deno.test("a connection lost under a call is named as such, with the address", async () => {
  await withResettingServer(true, async (target) => {
    for (const err of await callsTo(target)) assertLost(err, target, false);
  });
});

Deno.test("over plaintext TCP the lost connection suggests a TLS server", async () => {
  await withResettingServer(false, async (target) => {
    for (const err of await callsTo(target)) assertLost(err, target, true);
  });
  // The real case: a plaintext client against our TLS server.
  const certs = makeTestCerts();
  const server = await serve({
    address: "127.0.0.1:0",
    routes: () => {},
    tls: { cert: certs.serverCertPath, key: certs.serverKeyPath },
  });
  try {
    const target = `127.0.0.1:${(server.address as { port: number }).port}`;
    for (const err of await callsTo(target)) assertLost(err, target, true);
  } finally {
    await server.close();
    certs.remove();
  }
});

Deno.test("a call the caller cancels stays CANCELED", async () => {
  await withResettingServer(true, async (target) => {
    const channel = createChannel(target);
    try {
      const abort = new AbortController();
      abort.abort();
      const err = await createClient(ExporterService, channel.transport)
        .getReport({}, { signal: abort.signal })
        .catch((e) => e);
      assert.equal(Code[err.code], Code[Code.Canceled], err.message);
    } finally {
      channel.close();
    }
  });
});
