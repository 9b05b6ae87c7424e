// Distributed mode on loopback: a controller, exporters registered with it, clients leasing them
// by label and reaching their drivers through the router.

import { strict as assert } from "node:assert";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectExporter, ControllerConnection } from "../client/mod.ts";
import { parseClientConfig } from "../config/mod.ts";
import { VERSION } from "../config/version.ts";
import { ControllerService } from "../proto/mod.ts";
import { createChannel } from "../transport/mod.ts";
import type { PowerClient } from "../drivers/power/client.ts";
import type { StorageMuxClient } from "../drivers/storage/mod.ts";
import { withLab } from "./fixtures/lab.ts";
import { serveOidc } from "./fixtures/oidc_issuer.ts";
import { runToEnd } from "./fixtures/processes_io.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

Deno.test("a client leases an exporter by label and drives it through the router", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench-1", { board: "rpi4" });
    await lab.exporter("bench-2", { board: "imx8" });
    using alice = new ControllerConnection(await lab.client("alice"));
    const asked = await alice.createLease({ selector: "board=imx8", durationMs: 60_000 });
    const lease = await alice.waitForLease(asked.name, { timeoutMs: 10_000 });
    assert.equal(lease.exporter, "bench-2");
    await using tunnel = await alice.openTunnel(lease.name);
    await using exporter = await connectExporter(`unix:${tunnel.socket}`);
    const power = exporter.root.child("power") as PowerClient;
    await power.on();
    const readings = [];
    for await (const r of power.streamingCall("read")) readings.push(r);
    assert.deepEqual(readings, [{ voltage: 0, current: 0 }, { voltage: 5, current: 2 }]);
    await alice.releaseLease(lease.name);
    const ended = await alice.getLease(lease.name);
    assert.equal(ended.state, "Released");
  });
});

Deno.test("waiting clients get a busy exporter in the order they asked", async () => {
  await withLab(async (lab) => {
    await lab.exporter("only", { board: "rpi4" });
    const [a, b, c] = await Promise.all(
      ["a", "b", "c"].map(async (n) => new ControllerConnection(await lab.client(n))),
    );
    try {
      const first = await a.createLease({ selector: "board=rpi4", durationMs: 60_000 });
      assert.equal(first.state, "Ready");
      const second = await b.createLease({ selector: "board=rpi4", durationMs: 60_000 });
      const third = await c.createLease({ selector: "board=rpi4", durationMs: 60_000 });
      assert.equal(second.state, "Pending");
      assert.match(second.message, /waiting for an exporter matching board=rpi4: all 1 in use$/);
      assert.match((await c.getLease(third.name)).message, /1 lease ahead in the queue/);
      await a.releaseLease(first.name);
      assert.equal((await b.waitForLease(second.name, { timeoutMs: 10_000 })).exporter, "only");
      assert.equal((await c.getLease(third.name)).state, "Pending");
      // Waiting has a limit, and says what it waited for when it runs out.
      const impatient = await c.waitForLease(third.name, { timeoutMs: 300 }).catch((e) => e);
      assert.match(
        impatient.message,
        /^no exporter became free within 0\.3 s \(lease \S+: waiting for an exporter matching board=rpi4: all 1 in use\)$/,
      );
      await b.releaseLease(second.name);
      assert.equal((await c.waitForLease(third.name, { timeoutMs: 10_000 })).exporter, "only");
    } finally {
      for (const client of [a, b, c]) client[Symbol.dispose]();
    }
  });
});

Deno.test("an expired lease cuts the client's open byte stream", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    using alice = new ControllerConnection(await lab.client("alice"));
    const asked = await alice.createLease({ selector: "board=rpi4", durationMs: 1500 });
    const lease = await alice.waitForLease(asked.name, { timeoutMs: 10_000 });
    await using tunnel = await alice.openTunnel(lease.name);
    await using exporter = await connectExporter(`unix:${tunnel.socket}`);
    const call = await exporter.root.child("echo").openStream("connect");
    await call.stream.send(new TextEncoder().encode("ping"));
    const reader = call.stream[Symbol.asyncIterator]();
    assert.equal(new TextDecoder().decode((await reader.next()).value), "ping");
    const started = Date.now();
    // The stream stays open until the lease ends, then it is cut (not ended cleanly).
    const outcome = await (async () => {
      try {
        while (!(await reader.next()).done);
        await call.done;
        return "ended cleanly";
      } catch (err) {
        return err;
      }
    })();
    assert.ok(outcome instanceof Error, `the stream ${outcome}`);
    assert.ok(Date.now() - started < 6000, "cut within seconds of the expiry");
    assert.equal((await alice.getLease(lease.name)).state, "Expired");
    // Using an expired lease fails at once, saying so.
    const late = await alice.waitForLease(lease.name, { timeoutMs: 10_000 }).catch((e) => e);
    assert.match(late.message, /^lease \S+ cannot be had: expired at \d{4}-/);
  });
});

Deno.test("a wrong token is refused with UNAUTHENTICATED and a clear reason", async () => {
  await withLab(async (lab) => {
    const config = await lab.client("mallory");
    const forged = { ...config, token: `${config.token!.slice(0, -4)}AAAA` };
    using connection = new ControllerConnection(forged);
    const err = await connection.listLeases().catch((e) => e);
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.Unauthenticated);
    assert.match(err.rawMessage, /^token refused: /);
  });
});

Deno.test("jmp shell -l leases an exporter, runs j in it and releases the lease", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench-1", { board: "rpi4" });
    const config = await lab.client("alice");
    const run = await runToEnd([
      process.execPath,
      ...["run", "-A", join(ROOT, "cli/jmp.ts"), "shell", "--client-config", config.file!],
      ...["-l", "board=rpi4", "--", "sh", "-c", 'j power on && echo "on $JMP_EXPORTER"'],
    ], process.env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "power on\non bench-1\n");
    assert.match(run.stderr, /^jmp shell: lease \S+ on exporter bench-1\n/);
    using alice = new ControllerConnection(parseClientConfig(
      `endpoint: "${lab.endpoint}"\ntoken: ${config.token}\nmetadata: {namespace: lab, name: alice}\n`,
      config.file!,
    ));
    const leases = await alice.listLeases({ all: true });
    assert.deepEqual(leases.map((l) => l.state), ["Released"]);
  });
});

Deno.test("an exporter of another release series is refused with both versions, and listed so", async () => {
  await withLab(async (lab) => {
    const token = await lab.exporterToken("future", { board: "rpi4" });
    const channel = createChannel(lab.endpoint, { tls: false });
    try {
      const controller = createClient(ControllerService, channel.transport);
      const err = await controller.register({ labels: {}, reports: [] }, {
        headers: {
          authorization: `Bearer ${token}`,
          "jumpstarter-kind": "Exporter",
          "x-jumpstarter-version": "99.0.0",
        },
      }).catch((e) => e);
      assert.equal(err.code, Code.FailedPrecondition);
      assert.equal(
        err.rawMessage,
        `exporter version 99.0.0 does not work with controller version ${VERSION} ` +
          `(this controller speaks to ${VERSION.replace(/^0\.(\d+).*/, "0.$1.x")}): ` +
          "upgrade the controller",
      );
    } finally {
      channel.close();
    }
    using alice = new ControllerConnection(await lab.client("alice"));
    const [listed] = await alice.listExporters();
    assert.equal(listed.online, false);
    assert.match(listed.statusMessage, /^refused: exporter version 99\.0\.0 does not work/);
  });
});

Deno.test("the metrics page counts leases, exporters and grants; probes answer", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    using alice = new ControllerConnection(await lab.client("alice"));
    await alice.createLease({ selector: "board=rpi4", durationMs: 60_000 });
    await alice.createLease({ selector: "board=rpi4", durationMs: 60_000 });
    const base = `http://127.0.0.1:${lab.controller.metrics!.port}`;
    const page = await (await fetch(`${base}/metrics`)).text();
    for (
      const line of [
        'jumpstarter_leases{state="active"} 1',
        'jumpstarter_leases{state="pending"} 1',
        "jumpstarter_lease_queue_length 1",
        "jumpstarter_exporters 1",
        "jumpstarter_exporters_online 1",
        "jumpstarter_lease_grant_seconds_count 1",
      ]
    ) {
      assert.ok(page.split("\n").includes(line), `${line} in:\n${page}`);
    }
    assert.equal(await (await fetch(`${base}/healthz`)).text(), "ok\n");
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const missing = await fetch(`${base}/nothing`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });
});

Deno.test("an exporter lost mid-lease: the client is told at once, the lease stays, it comes back", async () => {
  await withLab(async (lab) => {
    const bench = await lab.exporter("bench", { board: "rpi4" });
    using alice = new ControllerConnection(await lab.client("alice"));
    const asked = await alice.createLease({ selector: "board=rpi4", durationMs: 60_000 });
    const lease = await alice.waitForLease(asked.name, { timeoutMs: 10_000 });
    await using tunnel = await alice.openTunnel(lease.name);
    const before = await connectExporter(`unix:${tunnel.socket}`);
    await before.root.child("power").call("on");
    const lost = Date.now();
    await bench.stop();
    const cut = await before.root.child("power").call("on").catch((e) => e);
    assert.ok(cut instanceof Error, "the open connection fails");
    assert.ok(Date.now() - lost < 3000, "within seconds");
    before.close();
    // A new connection is told why, as a gRPC error.
    const refused = await connectExporter(`unix:${tunnel.socket}`).catch((e) => e);
    assert.match(String(refused.message), /exporter bench is offline/);
    assert.equal((await alice.getLease(lease.name)).state, "Ready", "the lease is kept");
    // Back again: the same lease reaches it.
    await bench.start();
    await using after = await connectExporter(`unix:${tunnel.socket}`);
    await after.root.child("power").call("off");
  });
});

Deno.test("byte streams and resources work over a lease as in local mode", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" }, "\n  storage: {type: MockStorageMux}\n");
    using alice = new ControllerConnection(await lab.client("alice"));
    const asked = await alice.createLease({ selector: "board=rpi4", durationMs: 60_000 });
    const lease = await alice.waitForLease(asked.name, { timeoutMs: 10_000 });
    await using tunnel = await alice.openTunnel(lease.name);
    await using exporter = await connectExporter(`unix:${tunnel.socket}`);
    const storage = exporter.root.child("storage") as StorageMuxClient;
    await storage.host();
    const image = (async function* () {
      for (let i = 0; i < 32; i++) yield new Uint8Array(256 * 1024).fill(i + 1);
    })();
    const written = await storage.write(image);
    assert.equal(written.bytes, 8 * 1024 * 1024);
  });
});

Deno.test("jmp shell --auto-extend extends the lease until the access policy says no", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    await lab.controller.controller.store.putAccessPolicy({
      namespace: "lab",
      name: "short",
      exporterSelector: { matchLabels: { board: "rpi4" }, matchExpressions: [] },
      policies: [{
        priority: 0,
        from: [{ clientSelector: { matchLabels: {}, matchExpressions: [] } }],
        maximumDurationMs: 5000,
        spotAccess: false,
      }],
    });
    const config = await lab.client("alice");
    const run = await runToEnd([
      process.execPath,
      ...["run", "-A", join(ROOT, "cli/jmp.ts"), "shell", "--client-config", config.file!],
      ...["-l", "board=rpi4", "--duration", "2", "--auto-extend", "--", "sleep", "15"],
    ], process.env);
    assert.match(run.stderr, /jmp shell: lease \S+ extended, now ends /);
    assert.match(
      run.stderr,
      /cannot be extended further \(the access policy allows leases of at most 5 s on bench; this one would last 6 s\)/,
    );
    assert.match(run.stderr, /jmp shell: lease \S+ has ended \(Expired/);
    assert.equal(run.code, 129, "the command was hung up (SIGHUP)");
  });
});

Deno.test("a token of a trusted OIDC issuer identifies the client mapped to its user", async () => {
  const idp = await serveOidc();
  try {
    await withLab(async (lab) => {
      await lab.controller.controller.store.createClient({
        namespace: "lab",
        name: "bob",
        labels: {},
        username: "oidc:client:idp:bob:u1",
      });
      const token = await idp.issuer.issueIdentityToken({
        kind: "client",
        namespace: "idp",
        name: "bob",
        uid: "u1",
      });
      const config = await lab.client("placeholder");
      using bob = new ControllerConnection({
        ...config,
        token,
        metadata: { namespace: "lab", name: "bob" },
      });
      assert.deepEqual(await bob.listLeases(), []);
      const lease = await bob.createLease({ selector: "board=none", durationMs: 60_000 });
      assert.equal(lease.client, "bob");

      const stranger = await idp.issuer.issueIdentityToken({
        kind: "client",
        namespace: "idp",
        name: "eve",
        uid: "u2",
      });
      using eve = new ControllerConnection({
        ...config,
        token: stranger,
        metadata: { namespace: "lab", name: "bob" },
      });
      const refused = await eve.listLeases().catch((e) => e);
      assert.equal(refused.code, Code.PermissionDenied);
      assert.match(
        refused.rawMessage,
        /no client in namespace lab is mapped to user oidc:client:idp:eve:u2/,
      );
    }, { oidc: [{ issuer: idp.url, audience: "jumpstarter", usernamePrefix: "oidc:" }] });
  } finally {
    await idp.close();
  }
});

Deno.test("jmp shell waits for the beforeLease hook and shows what it says", async () => {
  await withLab(async (lab) => {
    await lab.exporter(
      "bench",
      { board: "rpi4" },
      "\n  power: {type: MockPower}\nhooks:\n  beforeLease:\n" +
        '    script: "echo preparing the board; sleep 0.5; echo board ready"\n',
    );
    const config = await lab.client("alice");
    const run = await runToEnd([
      process.execPath,
      ...["run", "-A", join(ROOT, "cli/jmp.ts"), "shell", "--client-config", config.file!],
      ...["-l", "board=rpi4", "--", "j", "power", "on"],
    ], process.env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "power on\n");
    assert.match(
      run.stderr,
      /jmp shell: \[beforeLease\] preparing the board\njmp shell: \[beforeLease\] board ready\n/,
    );
  });
});
