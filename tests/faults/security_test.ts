// Security checks across the components: a client reaches only what it leased, in its own
// namespace, with the kind of token it was given; a router token pairs once and only with the
// exporter of its own lease; tokens never show up in what the processes print; and every file
// that holds a token or a key is readable by its owner only.

import { strict as assert } from "node:assert";
import { Buffer } from "node:buffer";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectExporter, ControllerConnection, type LeaseInfo } from "../../client/mod.ts";
import { type ClientConfig, loadClientConfig } from "../../config/mod.ts";
import { VERSION } from "../../config/version.ts";
import { TokenError, TokenIssuer } from "../../controller/mod.ts";
import { ControllerService } from "../../proto/mod.ts";
import {
  type ClientByteStream,
  endpointChannel,
  openByteStream,
  pipeDuplex,
} from "../../transport/mod.ts";
import { cliCommand, freePort } from "../fixtures/cli_processes.ts";
import { type Lab, withLab } from "../fixtures/lab.ts";
import { type Run, runToEnd, startUntil } from "../fixtures/processes_io.ts";
import { withTempDir } from "../fixtures/temp_dir.ts";
import { until } from "../fixtures/wait.ts";

/** What a JSON Web Token looks like: base64url of `{"...` for the header, then the payload. */
const JWT = /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./;

/** The ConnectError `call` fails with; a call that succeeds fails the test. */
async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  const outcome = await call.then(() => "allowed", (err) => err);
  assert.ok(outcome instanceof ConnectError, `expected a refusal, got: ${outcome}`);
  return outcome;
}

/** A lease of `who` on an exporter matching `selector`, once granted. */
async function leaseOf(who: ControllerConnection, selector: string): Promise<LeaseInfo> {
  const asked = await who.createLease({ selector, durationMs: 60_000 });
  return await who.waitForLease(asked.name, { timeoutMs: 10_000 });
}

/** A client of the lab's controller in `namespace` (the lab's own clients are in "lab"). */
async function clientIn(lab: Lab, namespace: string, name: string): Promise<ClientConfig> {
  const { store, issuer } = lab.controller.controller;
  const record = await store.createClient({ namespace, name, labels: {} });
  const token = await issuer.issueIdentityToken({
    kind: "client",
    namespace,
    name,
    uid: record.uid,
  });
  return { ...await lab.client(`${name}-template`), token, metadata: { namespace, name } };
}

/** Metadata of a call made with `token`, claiming to be `kind` (as upstream sends it). */
function metadata(token: string, kind: "Client" | "Exporter", name: string) {
  return {
    authorization: `Bearer ${token}`,
    "jumpstarter-kind": kind,
    "jumpstarter-namespace": "lab",
    "jumpstarter-name": name,
    "x-jumpstarter-version": VERSION,
  };
}

/** `token` with its payload replaced by `change(claims)`, header and signature kept. */
function withClaims(token: string, change: (claims: Record<string, unknown>) => void): string {
  const [header, payload, signature] = token.split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
  change(claims);
  return [header, Buffer.from(JSON.stringify(claims)).toString("base64url"), signature].join(".");
}

/** `token` with the last characters of its signature changed. */
function forged(token: string): string {
  return `${token.slice(0, -6)}${token.endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA"}`;
}

/** Waits until `condition` holds (polling), failing with `what` after 5 s. */
function soon(what: string, condition: () => boolean): Promise<void> {
  return until(what, condition, { ms: 5000, everyMs: 25 });
}

/** A router stream opened with `token`, on its own channel (closed with the stream). */
interface RouterStream extends AsyncDisposable {
  readonly call: ClientByteStream;
  /** Cancels the stream. */
  readonly stop: AbortController;
  /**
   * Whether bytes arrive before the stream ends (a paired exporter speaks HTTP/2 first). It
   * reads the stream, which can be read only once: not for a stream given to serveStream.
   */
  hears(): Promise<boolean>;
}

async function openRouterStream(
  who: ControllerConnection,
  endpoint: string,
  token: string,
): Promise<RouterStream> {
  const channel = endpointChannel(endpoint, who.config.tls);
  const stop = new AbortController();
  const call = await openByteStream(channel, {
    metadata: { authorization: `Bearer ${token}` },
    signal: stop.signal,
  });
  let heard: Promise<boolean> | undefined;
  return {
    call,
    stop,
    hears() {
      heard ??= call.stream[Symbol.asyncIterator]().next().then((step) => !step.done, () => false);
      return heard;
    },
    async [Symbol.asyncDispose]() {
      stop.abort();
      await call.done.catch(() => {});
      channel.close();
    },
  };
}

/**
 * Serves an open router stream on a Unix socket, as a lease tunnel does, so that the exporter
 * it was paired with (if any) can be called. Connect once: one stream carries one connection.
 */
async function serveStream(
  stream: RouterStream,
  dir: string,
): Promise<{ socket: string } & AsyncDisposable> {
  const socket = join(dir, `stream-${crypto.randomUUID().slice(0, 8)}.sock`);
  const server = net.createServer((local) => {
    local.on("error", () => {});
    pipeDuplex(stream.call.stream, local, { signal: stream.stop.signal }).catch(() => {});
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    async [Symbol.asyncDispose]() {
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Whether anything arrives on `stream` within `ms`. */
async function hearsWithin(stream: RouterStream, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const quiet = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([stream.hears(), quiet]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Who may call what

Deno.test("a client cannot dial, release or change a lease of another client", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    using alice = new ControllerConnection(await lab.client("alice"));
    using bob = new ControllerConnection(await lab.client("bob"));
    const lease = await leaseOf(alice, "board=rpi4");

    const dial = await refusal(bob.controller.dial({ leaseName: lease.name }, {
      headers: bob.headers,
    }));
    assert.equal(dial.code, Code.PermissionDenied, dial.rawMessage);
    const release = await refusal(bob.releaseLease(lease.name));
    assert.equal(release.code, Code.PermissionDenied, release.rawMessage);
    const legacyRelease = await refusal(
      bob.controller.releaseLease({ name: lease.name }, { headers: bob.headers }),
    );
    assert.equal(legacyRelease.code, Code.PermissionDenied, legacyRelease.rawMessage);
    const longer = await refusal(bob.updateLease(lease.name, 120_000));
    assert.equal(longer.code, Code.PermissionDenied, longer.rawMessage);
    // Nor can bob take it over by naming himself its client.
    const takeover = await refusal(bob.clients.updateLease({
      lease: { name: `namespaces/lab/leases/${lease.name}`, client: "namespaces/lab/clients/bob" },
    }, { headers: bob.headers }));
    assert.equal(takeover.code, Code.PermissionDenied, takeover.rawMessage);

    const kept = await alice.getLease(lease.name);
    assert.equal(kept.state, "Ready");
    assert.equal(kept.client, "alice");
    assert.equal(kept.durationMs, 60_000);
    // Alice herself may do all of it.
    const dialed = await alice.controller.dial({ leaseName: lease.name }, {
      headers: alice.headers,
    });
    assert.ok(dialed.routerToken);
    await alice.updateLease(lease.name, 120_000);
    await alice.releaseLease(lease.name);
  });
});

Deno.test("a client token does not reach the leases or exporters of another namespace", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    using alice = new ControllerConnection(await lab.client("alice"));
    const lease = await leaseOf(alice, "board=rpi4");
    using carol = new ControllerConnection(await clientIn(lab, "elsewhere", "carol"));
    assert.deepEqual(await carol.listLeases(), [], "her own namespace works");

    const opts = { headers: carol.headers };
    const denied = [
      () => carol.clients.listLeases({ parent: "namespaces/lab" }, opts),
      () => carol.clients.listExporters({ parent: "namespaces/lab" }, opts),
      () => carol.clients.getLease({ name: `namespaces/lab/leases/${lease.name}` }, opts),
      () => carol.clients.getExporter({ name: "namespaces/lab/exporters/bench" }, opts),
      () => carol.clients.deleteLease({ name: `namespaces/lab/leases/${lease.name}` }, opts),
      () =>
        carol.clients.createLease({
          parent: "namespaces/lab",
          lease: { selector: "board=rpi4", duration: durationFromMs(60_000) },
        }, opts),
      () =>
        carol.clients.updateLease({
          lease: { name: `namespaces/lab/leases/${lease.name}`, duration: durationFromMs(1000) },
        }, opts),
    ];
    for (const call of denied) {
      const err = await refusal(call());
      assert.equal(err.code, Code.PermissionDenied, err.rawMessage);
      assert.match(err.rawMessage, /namespace mismatch \(lab, not elsewhere\)/);
    }
    // Claiming the other namespace in the metadata does not help: the token decides.
    const claimed = await refusal(carol.clients.listLeases({ parent: "namespaces/lab" }, {
      headers: { ...carol.headers, "jumpstarter-namespace": "lab" },
    }));
    assert.equal(claimed.code, Code.InvalidArgument, claimed.rawMessage);
    // Dial looks the lease up in the caller's own namespace, where it does not exist.
    const dial = await refusal(carol.controller.dial({ leaseName: lease.name }, opts));
    assert.equal(dial.code, Code.NotFound, dial.rawMessage);
    assert.equal((await alice.getLease(lease.name)).state, "Ready");
  });
});

Deno.test("an exporter token is refused as a client's, and a client token as an exporter's", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    const exporterToken = await lab.exporterToken("rig", { board: "imx8" });
    const aliceConfig = await lab.client("alice");
    using alice = new ControllerConnection(aliceConfig);
    const lease = await leaseOf(alice, "board=rpi4");
    const controller = createClient(ControllerService, alice.channel.transport);

    // An exporter token on client calls: refused whether the metadata is honest or not.
    for (const kind of ["Exporter", "Client"] as const) {
      const headers = metadata(exporterToken, kind, "rig");
      for (
        const call of [
          () => alice.clients.listLeases({ parent: "namespaces/lab" }, { headers }),
          () =>
            alice.clients.createLease({
              parent: "namespaces/lab",
              lease: { selector: "board=rpi4", duration: durationFromMs(60_000) },
            }, { headers }),
          () => controller.dial({ leaseName: lease.name }, { headers }),
          () => controller.requestLease({ duration: durationFromMs(60_000) }, { headers }),
        ]
      ) {
        const err = await refusal(call());
        const expected = kind === "Exporter" ? Code.PermissionDenied : Code.InvalidArgument;
        assert.equal(err.code, expected, `${kind}: ${err.rawMessage}`);
      }
    }

    // A client token on exporter calls.
    for (const kind of ["Client", "Exporter"] as const) {
      const headers = metadata(aliceConfig.token!, kind, "alice");
      const expected = kind === "Client" ? Code.PermissionDenied : Code.InvalidArgument;
      const register = await refusal(controller.register({ labels: {}, reports: [] }, { headers }));
      assert.equal(register.code, expected, `${kind}: ${register.rawMessage}`);
      const listen = await refusal((async () => {
        for await (const _ of controller.listen({ leaseName: lease.name }, { headers })) {
          assert.fail("a client got a router token meant for the exporter");
        }
      })());
      assert.equal(listen.code, expected, `${kind}: ${listen.rawMessage}`);
      const status = await refusal((async () => {
        for await (const _ of controller.status({}, { headers })) break;
      })());
      assert.equal(status.code, expected, `${kind}: ${status.rawMessage}`);
    }

    // A router token is no identity, and an identity token with a changed subject fails its
    // signature.
    const { routerToken } = await alice.controller.dial({ leaseName: lease.name }, {
      headers: alice.headers,
    });
    const asRouter = await refusal(alice.clients.listLeases({ parent: "namespaces/lab" }, {
      headers: metadata(routerToken, "Client", "alice"),
    }));
    assert.equal(asRouter.code, Code.Unauthenticated, asRouter.rawMessage);
    assert.match(asRouter.rawMessage, /router token, not a client or exporter token/);
    const bob = withClaims(aliceConfig.token!, (claims) => {
      claims.sub = String(claims.sub).replace(":alice:", ":bob:");
    });
    const renamed = await refusal(alice.clients.listLeases({ parent: "namespaces/lab" }, {
      headers: metadata(bob, "Client", "bob"),
    }));
    assert.equal(renamed.code, Code.Unauthenticated, renamed.rawMessage);
    assert.match(renamed.rawMessage, /signature does not verify/);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Router tokens

Deno.test("a router token pairs once: a replay is refused as already used", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    using alice = new ControllerConnection(await lab.client("alice"));
    const lease = await leaseOf(alice, "board=rpi4");
    const router = lab.controller.router;
    const dial = await alice.controller.dial({ leaseName: lease.name }, {
      headers: alice.headers,
    });
    await soon("the exporter waiting at the router", () => router.waitingCount === 1);

    {
      await using first = await openRouterStream(alice, dial.routerEndpoint, dial.routerToken);
      await soon("the pairing", () => router.waitingCount === 0);
      await using served = await serveStream(first, lab.dir);
      await using exporter = await connectExporter(`unix:${served.socket}`);
      await exporter.root.child("power").call("on");

      // While the first pair is open...
      await using replay = await openRouterStream(alice, dial.routerEndpoint, dial.routerToken);
      const err = await refusal(replay.call.done);
      assert.equal(err.code, Code.PermissionDenied, err.rawMessage);
      assert.match(err.rawMessage, /already used/);
      await exporter.root.child("power").call("off");
    }
    // ...and after it ended.
    await using late = await openRouterStream(alice, dial.routerEndpoint, dial.routerToken);
    const err = await refusal(late.call.done);
    assert.equal(err.code, Code.PermissionDenied, err.rawMessage);
    assert.match(err.rawMessage, /already used/);
    assert.equal(router.waitingCount, 0, "no replay is left waiting for a partner");
  });
});

Deno.test("a router token altered to name another lease fails its signature", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench-a", { board: "a" });
    await lab.exporter("bench-b", { board: "b" });
    using alice = new ControllerConnection(await lab.client("alice"));
    using bob = new ControllerConnection(await lab.client("bob"));
    const mine = await leaseOf(alice, "board=a");
    const theirs = await leaseOf(bob, "board=b");
    const dial = await alice.controller.dial({ leaseName: mine.name }, {
      headers: alice.headers,
    });
    const forgeries = {
      "another lease": withClaims(dial.routerToken, (claims) => (claims.lease = theirs.name)),
      "another stream": withClaims(dial.routerToken, (claims) => (claims.sub = "stream-2")),
      "no signature algorithm": [
        Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url"),
        dial.routerToken.split(".")[1],
        "",
      ].join("."),
      "an identity token": alice.config.token!,
    };
    for (const [what, token] of Object.entries(forgeries)) {
      await using stream = await openRouterStream(alice, dial.routerEndpoint, token);
      const err = await refusal(stream.call.done);
      assert.equal(err.code, Code.Unauthenticated, `${what}: ${err.rawMessage}`);
      assert.match(err.rawMessage, /^router token refused: /, what);
      assert.ok(!err.rawMessage.includes(token), `${what}: the token is not repeated`);
      if (what !== "an identity token" && what !== "no signature algorithm") {
        assert.match(err.rawMessage, /signature does not verify/, what);
      }
    }
  });
});

Deno.test("a router token of one lease never reaches the exporter of another", async () => {
  await withLab(async (lab) => {
    const benchA = await lab.exporter("bench-a", { board: "a" });
    await lab.exporter("bench-b", { board: "b" });
    using alice = new ControllerConnection(await lab.client("alice"));
    using bob = new ControllerConnection(await lab.client("bob"));
    const l1 = await leaseOf(alice, "board=a");
    const l2 = await leaseOf(bob, "board=b");
    const router = lab.controller.router;

    // An exporter learns router tokens only for the lease it serves.
    const rig = await lab.exporterToken("rig", { board: "c" });
    const controller = createClient(ControllerService, alice.channel.transport);
    const listen = await refusal((async () => {
      const headers = metadata(rig, "Exporter", "rig");
      for await (const _ of controller.listen({ leaseName: l2.name }, { headers })) {
        assert.fail("an exporter got a router token of a lease it does not serve");
      }
    })());
    assert.equal(listen.code, Code.PermissionDenied, listen.rawMessage);

    // L1's token, with L1's exporter gone: only L2's exporter waits at the router.
    const t1 = await alice.controller.dial({ leaseName: l1.name }, { headers: alice.headers });
    await soon("bench-a waiting at the router", () => router.waitingCount === 1);
    await benchA.stop();
    await soon("bench-a gone from the router", () => router.waitingCount === 0);
    const t2 = await bob.controller.dial({ leaseName: l2.name }, { headers: bob.headers });
    await soon("bench-b waiting at the router", () => router.waitingCount === 1);

    await using stray = await openRouterStream(alice, t1.routerEndpoint, t1.routerToken);
    await soon("the stream of L1 waiting too", () => router.waitingCount === 2);
    assert.equal(await hearsWithin(stray, 500), false, "L1's stream is not paired");

    // Bench-b's stream is still there for its own client.
    await using own = await openRouterStream(bob, t2.routerEndpoint, t2.routerToken);
    await soon("bob paired with bench-b", () => router.waitingCount === 1);
    await using served = await serveStream(own, lab.dir);
    await using exporter = await connectExporter(`unix:${served.socket}`);
    await exporter.root.child("power").call("on");
    assert.equal(await hearsWithin(stray, 200), false, "L1's stream is still not paired");

    stray.stop.abort();
    const cancelled = await refusal(stray.call.done);
    assert.equal(cancelled.code, Code.Canceled, cancelled.rawMessage);
    await soon("the stray stream gone from the router", () => router.waitingCount === 0);
  });
});

Deno.test("a router token of an ended lease does not reach the exporter's next lease", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    using alice = new ControllerConnection(await lab.client("alice"));
    using bob = new ControllerConnection(await lab.client("bob"));
    const router = lab.controller.router;
    const l1 = await leaseOf(alice, "board=rpi4");
    const t1 = await alice.controller.dial({ leaseName: l1.name }, { headers: alice.headers });
    await soon("bench waiting at the router", () => router.waitingCount === 1);
    // A second stream of L1, opened by the test as an exporter would that does not give up its
    // waiting streams when the lease ends: the router cuts it itself.
    const kept = await lab.controller.controller.issuer.issueRouterToken({
      namespace: "lab",
      lease: l1.name,
    });
    await using left = await openRouterStream(alice, t1.routerEndpoint, kept.token);
    await soon("both streams of L1 waiting", () => router.waitingCount === 2);
    await alice.releaseLease(l1.name);
    await soon("the waiting streams of L1 dropped", () => router.waitingCount === 0);
    const cut = await refusal(left.call.done);
    assert.equal(cut.code, Code.Unavailable, cut.rawMessage);
    assert.match(cut.rawMessage, /lease \S+ has ended/);

    const l2 = await leaseOf(bob, "board=rpi4");
    assert.equal(l2.exporter, "bench");
    for (const token of [t1.routerToken, kept.token]) {
      await using stale = await openRouterStream(alice, t1.routerEndpoint, token);
      assert.equal(await hearsWithin(stale, 300), false, "the stale token is not paired");
    }
    // Bob's own connections work.
    await using tunnel = await bob.openTunnel(l2.name);
    await using exporter = await connectExporter(`unix:${tunnel.socket}`);
    await exporter.root.child("power").call("on");
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Tokens in logs and messages

// HOME moves to the test's folder; Deno's cache must not move with it.
function envFor(dir: string): Record<string, string | undefined> {
  return {
    ...process.env,
    HOME: join(dir, "home"),
    XDG_CONFIG_HOME: join(dir, "xdg"),
    DENO_DIR: process.env.DENO_DIR ??
      join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "deno"),
  };
}

/** Asserts that no `secret` and nothing JWT-shaped is in `text` (named `where`). */
function assertNoTokens(where: string, text: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `${where} shows a token:\n${text}`);
  }
  const jwt = JWT.exec(text);
  assert.equal(jwt, null, `${where} shows something JWT-shaped (${jwt?.[0]}):\n${text}`);
}

Deno.test(
  "no token shows in what controller, exporter and jmp print, on success and on failures",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const data = join(dir, "data");
    const outputs: { what: string; text: () => string }[] = [];
    const record = (what: string, run: Run) =>
      outputs.push({ what, text: () => run.stdout + run.stderr });
    // Everything a long-running process prints, from its start to its end.
    const follow = (what: string, started: Awaited<ReturnType<typeof startUntil>>) => {
      let text = started.output;
      started.child.stdout!.on("data", (d) => (text += d));
      started.child.stderr!.on("data", (d) => (text += d));
      outputs.push({ what, text: () => text });
      return started;
    };
    const jmp = async (what: string, args: string[]) => {
      const run = await runToEnd(cliCommand("jmp.ts", args), env);
      record(what, run);
      return run;
    };

    const controller = follow(
      "jmp-controller run",
      await startUntil(
        cliCommand("jmp-controller.ts", [
          "run",
          ...["--data-dir", data, "--log-level", "debug", "--no-metrics"],
          ...["--listen", `127.0.0.1:${await freePort()}`],
          ...["--router-listen", `127.0.0.1:${await freePort()}`],
        ]),
        env,
        "stdout",
        "advertised endpoint",
      ),
    );
    const running = [controller];
    try {
      const file = (name: string) => join(dir, `${name}.yaml`);
      const made = await Promise.all([
        jmp("admin create client alice", [
          ...["admin", "create", "client", "alice", "--unsafe"],
          ...["--data-dir", data, "--out", file("alice")],
        ]),
        jmp("admin create client bob", [
          ...["admin", "create", "client", "bob", "--unsafe"],
          ...["--data-dir", data, "--out", file("bob")],
        ]),
        jmp("admin create exporter bench", [
          ...["admin", "create", "exporter", "bench", "-l", "board=rpi4"],
          ...["--data-dir", data, "--out", file("bench")],
        ]),
      ]);
      for (const run of made) assert.equal(run.code, 0, run.stderr);
      writeFileSync(
        file("bench"),
        readFileSync(file("bench"), "utf8")
          .replace(/^export:.*$/m, "export:\n  power: {type: MockPower}"),
      );
      const tokenOf = (name: string) =>
        /^token: (\S+)$/m.exec(readFileSync(file(name), "utf8"))![1];
      const forgeries = Object.fromEntries(
        ["alice", "bench"].map((name) => {
          const text = readFileSync(file(name), "utf8");
          const token = tokenOf(name);
          writeFileSync(file(`${name}-forged`), text.replace(token, forged(token)));
          return [name, forged(token)];
        }),
      );

      running.push(follow(
        "jmp-exporter run",
        await startUntil(
          cliCommand("jmp-exporter.ts", ["run", "-c", file("bench"), "--log-level", "debug"]),
          env,
          "stderr",
          "registered with the controller",
        ),
      ));

      // A forged exporter token: refused, and said so without the token.
      const badExporter = await runToEnd(
        cliCommand("jmp-exporter.ts", ["run", "-c", file("bench-forged"), "--log-level", "debug"]),
        env,
      );
      record("jmp-exporter run (forged token)", badExporter);
      assert.notEqual(badExporter.code, 0);
      assert.match(badExporter.stderr, /token refused: token signature does not verify/);

      // A lease through jmp shell.
      const shell = await jmp("jmp shell", [
        ...["shell", "--client-config", file("alice"), "-l", "board=rpi4"],
        ...["--", "j", "power", "on"],
      ]);
      assert.equal(shell.code, 0, shell.stderr);
      assert.equal(shell.stdout, "power on\n");

      // A forged client token.
      const badClient = await jmp("jmp shell (forged token)", [
        ...["--debug", "shell", "--client-config", file("alice-forged"), "-l", "board=rpi4"],
        ...["--", "j", "power", "on"],
      ]);
      assert.notEqual(badClient.code, 0);
      assert.match(badClient.stderr, /token refused: token signature does not verify/);

      // A refused Dial: bob on alice's lease. And a router token used, cut, and replayed.
      using alice = new ControllerConnection(await loadClientConfig(file("alice")));
      const lease = await leaseOf(alice, "board=rpi4");
      const refused = await jmp("jmp shell --lease (someone else's)", [
        ...["--debug", "shell", "--client-config", file("bob"), "--lease", lease.name],
        ...["--", "j", "power", "on"],
      ]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /permission denied/);
      const dial = await alice.controller.dial({ leaseName: lease.name }, {
        headers: alice.headers,
      });
      {
        await using stream = await openRouterStream(alice, dial.routerEndpoint, dial.routerToken);
        assert.ok(await hearsWithin(stream, 5000), "paired with the exporter");
      }
      await using replay = await openRouterStream(alice, dial.routerEndpoint, dial.routerToken);
      assert.match((await refusal(replay.call.done)).rawMessage, /already used/);
      await alice.releaseLease(lease.name);

      for (const daemon of running.splice(0).reverse()) await daemon.stop();
      assert.match(outputs[0].text(), /data folder: /, "the controller logged at debug level");
      const secrets = [
        ...["alice", "bob", "bench"].map(tokenOf),
        ...Object.values(forgeries),
        dial.routerToken,
      ];
      for (const { what, text } of outputs) assertNoTokens(what, text(), secrets);
    } finally {
      for (const daemon of running) await daemon.stop();
    }
  }),
);

Deno.test("refused tokens are explained without the token; jmp config client show redacts it", async () => {
  // Every way the controller and router refuse a token, with the messages a user sees.
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    const config = await lab.client("alice");
    using alice = new ControllerConnection(config);
    const lease = await leaseOf(alice, "board=rpi4");
    const { routerEndpoint, routerToken } = await alice.controller.dial({ leaseName: lease.name }, {
      headers: alice.headers,
    });
    const stranger = TokenIssuer.generate();
    const identity = { kind: "client", namespace: "lab", name: "alice", uid: "u1" } as const;
    const bad = {
      forged: forged(config.token!),
      "another issuer's": await stranger.issueIdentityToken(identity),
      expired: await lab.controller.controller.issuer.issueIdentityToken({
        ...identity,
        lifetimeSeconds: -3600,
      }),
      "a router token": routerToken,
      truncated: config.token!.split(".").slice(0, 2).join("."),
    };
    const messages: string[] = [];
    for (const [what, token] of Object.entries(bad)) {
      const err = await refusal(alice.clients.listLeases({ parent: "namespaces/lab" }, {
        headers: metadata(token, "Client", "alice"),
      }));
      assert.equal(err.code, Code.Unauthenticated, `${what}: ${err.rawMessage}`);
      messages.push(err.message);
      await using stream = await openRouterStream(alice, routerEndpoint, token);
      if (token !== routerToken) messages.push((await refusal(stream.call.done)).message);
    }
    for (const kind of ["client", "exporter"] as const) {
      for (const token of [...Object.values(bad), config.token!]) {
        const err = await lab.controller.controller.issuer.verifyIdentityToken(token, kind)
          .then(() => undefined, (e) => e);
        if (err !== undefined) {
          assert.ok(err instanceof TokenError, String(err));
          messages.push(err.message);
        }
      }
    }
    assert.ok(messages.length >= 15, `${messages.length} messages`);
    assertNoTokens("refusals", messages.join("\n"), [...Object.values(bad), config.token!]);
  });

  await withTempDir(async (dir) => {
    const env = envFor(dir);
    const token = await TokenIssuer.generate().issueIdentityToken({
      kind: "client",
      namespace: "lab",
      name: "alice",
      uid: "u1",
    });
    const jmp = (args: string[]) => runToEnd(cliCommand("jmp.ts", args), env);
    const made = await Promise.all([
      jmp([
        ...["config", "client", "create", "alice", "--endpoint", "127.0.0.1:1"],
        ...["--token", token, "--namespace", "lab"],
      ]),
      jmp(["exporter", "create", "rig", "--user", "--endpoint", "127.0.0.1:1", "--token", token]),
    ]);
    for (const run of made) assert.equal(run.code, 0, run.stderr);
    const shows = {
      "jmp config client show": ["config", "client", "show", "alice"],
      "jmp config client show -o json": ["config", "client", "show", "alice", "-o", "json"],
      "jmp exporter show": ["exporter", "show", "rig"],
      "jmp exporter show -o json": ["exporter", "show", "rig", "-o", "json"],
    };
    const lists = {
      "jmp config client list -o yaml": ["config", "client", "list", "-o", "yaml"],
      "jmp exporter list -o yaml": ["exporter", "list", "-o", "yaml"],
    };
    const runs = await Promise.all(
      [...Object.values(shows), ...Object.values(lists)].map((args) => jmp(args)),
    );
    for (const [i, what] of [...Object.keys(shows), ...Object.keys(lists)].entries()) {
      const run = runs[i];
      assert.equal(run.code, 0, `${what}: ${run.stderr}`);
      if (what in shows) assert.ok(run.stdout.includes(`eyJh…(${token.length} chars)`), run.stdout);
      assertNoTokens(what, run.stdout + run.stderr, [token]);
    }
    for (const run of made) {
      assertNoTokens("creating the configs", run.stdout + run.stderr, [token]);
    }
  })();
});

// ---------------------------------------------------------------------------------------------
// 4. File modes

function assertPrivate(file: string): void {
  const mode = statSync(file).mode & 0o777;
  assert.equal(mode, 0o600, `${file} is mode ${mode.toString(8)}, not 600`);
}

Deno.test(
  "files holding tokens or keys are mode 0600, also when written over a 0644 one",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const jmp = async (args: string[]) => {
      const run = await runToEnd(cliCommand("jmp.ts", args), env);
      assert.equal(run.code, 0, `jmp ${args.join(" ")}: ${run.stderr}`);
      return run;
    };
    const loosen = (file: string) => {
      chmodSync(file, 0o644);
      assert.equal(statSync(file).mode & 0o777, 0o644);
    };
    const data = join(dir, "data");
    const installed = join(dir, "installed");
    const addresses = async () => [
      ...["--listen", `127.0.0.1:${await freePort()}`],
      ...["--router-listen", `127.0.0.1:${await freePort()}`],
    ];
    const installArgs = ["install", "--data-dir", installed, ...await addresses()];
    const controller = await startUntil(
      cliCommand("jmp-controller.ts", [
        "run",
        "--data-dir",
        data,
        "--no-metrics",
        ...await addresses(),
      ]),
      env,
      "stdout",
      "advertised endpoint",
    );
    try {
      await jmp(installArgs);
      const clients = join(dir, "xdg/jumpstarter/clients");
      const exporters = join(dir, "xdg/jumpstarter/exporters");
      for (const folder of [data, installed]) {
        assert.equal(statSync(folder).mode & 0o777, 0o700, `${folder} is private`);
        for (const file of ["keys.json", "controller.json", "tls/ca.key", "tls/server.key"]) {
          assertPrivate(join(folder, file));
        }
      }
      assertPrivate(join(clients, "default.yaml"));

      const out = join(dir, "out/bob.yaml");
      await jmp(["admin", "create", "client", "bob", "--data-dir", data, "--out", out]);
      await Promise.all([
        jmp(["admin", "create", "client", "alice", "--save", "--data-dir", data]),
        jmp(["admin", "create", "exporter", "bench", "--save", "--data-dir", data]),
        jmp([
          ...["config", "client", "create", "carol", "--endpoint", "127.0.0.1:1"],
          ...["--token", "t0k3n-carol-1"],
        ]),
        jmp(["exporter", "create", "rig", "--user", "--endpoint", "127.0.0.1:1", "--token", "t1"]),
      ]);
      for (const file of ["alice.yaml", "carol.yaml"]) assertPrivate(join(clients, file));
      for (const file of ["bench.yaml", "rig.yaml"]) assertPrivate(join(exporters, file));
      assertPrivate(out);

      // Written again over files loosened meanwhile (`--save` of a client refuses to overwrite).
      const rewritten = [
        out,
        join(exporters, "bench.yaml"),
        join(clients, "carol.yaml"),
        join(exporters, "rig.yaml"),
        join(installed, "controller.json"),
      ];
      for (const file of rewritten) loosen(file);

      await Promise.all([
        jmp(["admin", "create", "client", "dave", "--data-dir", data, "--out", out]),
        // Another identity of the same name (in another namespace) saves over the same file.
        jmp(["admin", "create", "exporter", "bench", "-n", "other", "--save", "--data-dir", data]),
        jmp([
          ...["config", "client", "create", "carol", "--endpoint", "127.0.0.1:1"],
          ...["--token", "t0k3n-carol-2", "--force"],
        ]),
        jmp([
          ...["exporter", "create", "rig", "--user", "--endpoint", "127.0.0.1:1"],
          ...["--token", "t2", "--force"],
        ]),
        jmp(installArgs),
      ]);
      for (const file of rewritten) assertPrivate(file);
      assert.match(readFileSync(out, "utf8"), /name: dave/);
      assert.match(readFileSync(join(exporters, "bench.yaml"), "utf8"), /namespace: other/);
      assert.match(readFileSync(join(clients, "carol.yaml"), "utf8"), /t0k3n-carol-2/);
    } finally {
      await controller.stop();
    }
  }),
);
