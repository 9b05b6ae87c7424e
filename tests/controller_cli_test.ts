// `jmp-controller run` and `jmp admin` run as an operator runs them: a controller on loopback
// with its data in a temp folder, configs made by `jmp admin` used by real clients and exporters.

import { strict as assert } from "node:assert";
import { Buffer } from "node:buffer";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { ControllerConnection } from "../client/mod.ts";
import { parseClientConfig, parseExporterConfig } from "../config/mod.ts";
import { TokenIssuer } from "../controller/mod.ts";
import { caFingerprint } from "../controller/tls_bootstrap.ts";
import { type Run, runToEnd, startUntil } from "./fixtures/processes_io.ts";
import { withTempDir } from "./fixtures/temp_dir.ts";
import { cliCommand } from "./fixtures/cli_processes.ts";

// HOME moves to the temp folder; Deno's cache must not move with it.
const BASE_ENV = {
  PATH: process.env.PATH ?? "",
  DENO_DIR: process.env.DENO_DIR ??
    join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "deno"),
};
const READY = "advertised endpoint:";

function env(dir: string): Record<string, string> {
  return {
    ...BASE_ENV,
    HOME: join(dir, "home"),
    XDG_CONFIG_HOME: join(dir, "xdg"),
    XDG_DATA_HOME: join(dir, "data-home"),
  };
}

/** Runs `jmp ARGS` with the temp folder's HOME and config folders. */
function jmp(dir: string, args: string[]): Promise<Run> {
  return runToEnd(cliCommand("jmp.ts", args), env(dir));
}

/** Runs `jmp admin ARGS --data-dir DIR/data`. */
function admin(dir: string, args: string[]): Promise<Run> {
  return jmp(dir, ["admin", ...args, "--data-dir", join(dir, "data")]);
}

/** Starts `jmp-controller run` on loopback with its data in DIR/data, until it is ready. */
async function startController(dir: string, extra: string[] = []) {
  const started = await startUntil(
    cliCommand("jmp-controller.ts", [
      "run",
      "--data-dir",
      join(dir, "data"),
      "--listen",
      "127.0.0.1:0",
      "--router-listen",
      "127.0.0.1:0",
      ...extra,
    ]),
    env(dir),
    "stdout",
    READY,
  );
  let stderr = "";
  started.child.stderr!.on("data", (d) => (stderr += d));
  const ports = /controller listening on (\S+), router on (\S+)\n/.exec(started.output);
  assert.ok(ports, started.output);
  return {
    ...started,
    listen: ports[1],
    router: ports[2],
    stderr: () => stderr,
    /** SIGTERM, then the exit code. */
    async stopCode(): Promise<number | null> {
      started.child.removeAllListeners("close");
      const closed = new Promise<number | null>((resolve) => started.child.once("close", resolve));
      // Not child.kill(): Deno's child_process then reports the signal, not the exit code.
      process.kill(started.child.pid!, "SIGTERM");
      return await closed;
    },
  };
}

function assertOneLineError(run: Run, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `${run.stdout}${run.stderr}`);
  assert.match(run.stderr, /^error: [^\n]*\n$/, run.stderr);
  assert.match(run.stderr, pattern);
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

function controllerJson(dir: string) {
  const file = join(dir, "data", "controller.json");
  return { file, info: JSON.parse(readFileSync(file, "utf8")) };
}

Deno.test(
  "the controller serves TLS by default and clients reach it with the CA of jmp admin's config",
  withTempDir(async (dir) => {
    const controller = await startController(dir);
    try {
      const { file, info } = controllerJson(dir);
      assert.equal(mode(file), 0o600);
      assert.equal(info.plaintext, false);
      assert.equal(info.endpoint, controller.listen);
      assert.equal(info.routerEndpoint, controller.router);
      assert.match(controller.output, new RegExp(`fingerprint ${caFingerprint(info.ca)}\n`));

      const made = await admin(dir, ["create", "exporter", "bench", "-l", "board=rpi4"]);
      assert.equal(made.code, 0, made.stderr);
      const created = await admin(dir, ["create", "client", "alice"]);
      assert.equal(created.code, 0, created.stderr);
      assert.equal(created.stderr, "Created client default/alice\n");
      const config = parseClientConfig(created.stdout, join(dir, "alice.yaml"));
      assert.equal(config.endpoint, controller.listen);
      assert.equal(Buffer.from(config.tls.ca!, "base64").toString(), info.ca);
      assert.equal(config.tls.insecure, false);

      using connection = new ControllerConnection(config);
      const exporters = await connection.listExporters();
      assert.deepEqual(exporters.map((e) => [e.name, e.labels]), [["bench", { board: "rpi4" }]]);

      // The CLI reaches it too, with the config --save made current.
      assert.equal((await admin(dir, ["create", "client", "carol", "--save"])).code, 0);
      const listed = await jmp(dir, ["get", "exporters", "-o", "name"]);
      assert.equal(listed.stdout, "bench\n", listed.stderr);

      // The exporter is offline: the lease waits, and deleting its client ends it.
      const lease = await connection.createLease({ selector: "board=rpi4", durationMs: 60_000 });
      const pending = JSON.parse((await admin(dir, ["get", "leases", "-o", "json"])).stdout);
      assert.deepEqual(
        pending.map((l: Record<string, unknown>) => [l.name, l.client, l.selector, l.state]),
        [[lease.name, "alice", "board=rpi4", "Pending"]],
      );
      const deleted = await admin(dir, ["delete", "client", "alice"]);
      assert.equal(deleted.stdout, "Deleted client default/alice (ended 1 lease)\n");
      const ended = JSON.parse(
        (await admin(dir, ["get", "lease", lease.name, "-o", "json"])).stdout,
      );
      assert.equal(ended[0].state, "Released");
      assert.equal((await admin(dir, ["get", "leases", "-o", "json"])).stdout, "[]\n");
    } finally {
      assert.equal(await controller.stopCode(), 0, controller.stderr());
    }
  }),
);

Deno.test(
  "an exporter config made by jmp admin registers over TLS and clients see it online",
  withTempDir(async (dir) => {
    const controller = await startController(dir);
    const exporterFile = join(dir, "bench.yaml");
    let exporter: Awaited<ReturnType<typeof startUntil>> | undefined;
    try {
      const made = await admin(dir, [
        "create",
        "exporter",
        "bench",
        "-l",
        "board=rpi4",
        "--out",
        exporterFile,
      ]);
      assert.equal(made.code, 0, made.stderr);
      assert.equal(mode(exporterFile), 0o600);
      writeFileSync(
        exporterFile,
        readFileSync(exporterFile, "utf8").replace(
          "export: {}",
          "export:\n  power:\n    type: MockPower\n",
        ),
      );
      const client = await admin(dir, ["create", "client", "alice"]);
      using connection = new ControllerConnection(
        parseClientConfig(client.stdout, join(dir, "alice.yaml")),
      );
      exporter = await startUntil(
        cliCommand("jmp.ts", ["exporter", "run", "-c", exporterFile]),
        env(dir),
        "stdout",
        "Using exporter config",
      );
      let online = false;
      for (let i = 0; i < 150 && !online; i++) {
        online = (await connection.listExporters()).some((e) => e.name === "bench" && e.online);
        if (!online) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(online, "the exporter never came online");
    } finally {
      await exporter?.stop();
      assert.equal(await controller.stopCode(), 0, controller.stderr());
    }
  }),
);

Deno.test(
  "--insecure-plaintext warns, and admin configs carry an http:// endpoint and no CA",
  withTempDir(async (dir) => {
    const controller = await startController(dir, ["--insecure-plaintext"]);
    try {
      const { info } = controllerJson(dir);
      assert.deepEqual(info, {
        endpoint: `http://${controller.listen}`,
        routerEndpoint: `http://${controller.router}`,
        ca: null,
        plaintext: true,
      });
      assert.doesNotMatch(controller.output, /fingerprint/);
      const created = await admin(dir, ["create", "client", "alice", "-o", "json"]);
      assert.equal(created.code, 0, created.stderr);
      const document = JSON.parse(created.stdout);
      assert.equal(document.endpoint, `http://${controller.listen}`);
      assert.deepEqual(document.tls, { ca: "", insecure: false });
      using connection = new ControllerConnection(
        parseClientConfig(JSON.stringify(document), join(dir, "alice.yaml")),
      );
      assert.deepEqual(await connection.listExporters(), []);
    } finally {
      assert.equal(await controller.stopCode(), 0);
      assert.match(controller.stderr(), /^warning: serving without TLS[^\n]*\n/);
    }
  }),
);

Deno.test(
  "jmp admin create prints configs whose tokens the controller's keys verify",
  withTempDir(async (dir) => {
    assert.equal(await (await startController(dir)).stopCode(), 0);
    const issuer = await TokenIssuer.loadOrCreate(join(dir, "data", "keys.json"));
    const client = await admin(dir, [
      "create",
      "client",
      "alice",
      "-n",
      "lab",
      "-l",
      "team=qa",
      "--allow",
      "jumpstarter_driver_power.*, custom.*",
    ]);
    assert.equal(client.code, 0, client.stderr);
    const clientConfig = parseClientConfig(client.stdout, join(dir, "alice.yaml"));
    assert.deepEqual(clientConfig.metadata, { namespace: "lab", name: "alice" });
    assert.deepEqual(clientConfig.drivers, {
      allow: ["jumpstarter_driver_power.*", "custom.*"],
      unsafe: false,
    });
    const claims = await issuer.verifyIdentityToken(clientConfig.token!, "client");
    assert.deepEqual([claims.namespace, claims.name], ["lab", "alice"]);

    const exporter = await admin(dir, ["create", "exporter", "bench", "-n", "lab", "-l", "a=b"]);
    assert.equal(exporter.code, 0, exporter.stderr);
    const exporterConfig = parseExporterConfig(exporter.stdout, join(dir, "bench.yaml"));
    assert.deepEqual(exporterConfig.metadata, { namespace: "lab", name: "bench" });
    assert.deepEqual(exporterConfig.export, {});
    const exporterClaims = await issuer.verifyIdentityToken(exporterConfig.token!, "exporter");
    assert.equal(exporterClaims.name, "bench");

    const again = await admin(dir, ["create", "client", "alice", "-n", "lab"]);
    assertOneLineError(again, 1, /client lab\/alice already exists/);
  }),
);

Deno.test(
  "jmp admin --save writes private configs and keeps an exporter config's export section",
  withTempDir(async (dir) => {
    assert.equal(await (await startController(dir)).stopCode(), 0);
    const exporterFile = join(dir, "xdg", "jumpstarter", "exporters", "bench.yaml");
    mkdirSync(dirname(exporterFile), { recursive: true });
    writeFileSync(
      exporterFile,
      "# the bench by the window\napiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\n" +
        "metadata:\n  name: bench\nendpoint: old:8082\ntoken: old\n" +
        "export:\n  power:\n    type: MockPower  # the USB hub\n",
    );
    const saved = await admin(dir, ["create", "exporter", "bench", "-l", "board=rpi4", "--save"]);
    assert.equal(saved.code, 0, saved.stderr);
    assert.match(saved.stdout, /its export: section is unchanged/);
    assert.equal(mode(exporterFile), 0o600);
    const text = readFileSync(exporterFile, "utf8");
    assert.match(text, /^# the bench by the window\n/);
    assert.match(text, /type: MockPower +# the USB hub/);
    const exporter = parseExporterConfig(text, exporterFile);
    assert.equal(exporter.endpoint, controllerJson(dir).info.endpoint);
    assert.notEqual(exporter.token, "old");
    assert.equal(exporter.export.power.type, "MockPower");
    assert.equal(exporter.metadata.namespace, "default");

    const client = await admin(dir, ["create", "client", "alice", "--save", "--unsafe"]);
    assert.equal(client.code, 0, client.stderr);
    const clientFile = join(dir, "xdg", "jumpstarter", "clients", "alice.yaml");
    assert.equal(
      client.stdout,
      `Created client default/alice\nSaved client config '${clientFile}'\n` +
        "Using client config 'alice'\n",
    );
    assert.equal(mode(clientFile), 0o600);
    assert.equal(
      parseClientConfig(readFileSync(clientFile, "utf8"), clientFile).drivers.unsafe,
      true,
    );
    const listed = await jmp(dir, ["config", "client", "list", "-o", "name"]);
    assert.equal(listed.stdout, "alice\n");

    // Refused before registering: bob is not left behind without a config.
    writeFileSync(join(dirname(clientFile), "bob.yaml"), "mine\n");
    const refused = await admin(dir, ["create", "client", "bob", "--save"]);
    assertOneLineError(refused, 1, /client config "bob" already exists/);
    const clients = await admin(dir, ["get", "clients", "-o", "name"]);
    assert.equal(clients.stdout, "alice\n");
  }),
);

Deno.test(
  "jmp admin get lists clients, exporters and leases, and delete removes them",
  withTempDir(async (dir) => {
    assert.equal(await (await startController(dir)).stopCode(), 0);
    for (
      const args of [["client", "alice", "-l", "team=qa"], [
        "exporter",
        "bench",
        "-l",
        "board=rpi4",
      ]]
    ) {
      const made = await admin(dir, ["create", ...args]);
      assert.equal(made.code, 0, made.stderr);
    }
    const table = await admin(dir, ["get", "exporters"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /^NAME +LABELS +STATUS +LAST SEEN\nbench +board=rpi4 +Offline +never\n$/,
    );
    const clients = JSON.parse((await admin(dir, ["get", "clients", "-o", "json"])).stdout);
    assert.deepEqual(clients.map((c: { name: string; labels: object }) => [c.name, c.labels]), [
      ["alice", { team: "qa" }],
    ]);
    const one = await admin(dir, ["get", "client", "alice", "-o", "name"]);
    assert.equal(one.stdout, "alice\n");
    const leases = await admin(dir, ["get", "leases", "--all"]);
    assert.equal(leases.stdout, "NAME   CLIENT   EXPORTER   SELECTOR   STATE   ENDS\n");

    const deleted = await admin(dir, ["delete", "exporter", "bench"]);
    assert.equal(deleted.stdout, "Deleted exporter default/bench\n");
    assert.equal((await admin(dir, ["get", "exporters", "-o", "json"])).stdout, "[]\n");
    assertOneLineError(
      await admin(dir, ["delete", "client", "nobody"]),
      1,
      /client default\/nobody not found/,
    );
    assertOneLineError(await admin(dir, ["get", "exporter", "bench"]), 1, /not found/);
  }),
);

Deno.test(
  "jmp admin errors are one line: no controller data, bad labels, bad names",
  withTempDir(async (dir) => {
    assertOneLineError(
      await admin(dir, ["get", "clients"]),
      1,
      /controller\.json is missing\): run `jmp-controller run` .* or pass --data-dir/,
    );
    assertOneLineError(
      await admin(dir, ["create", "exporter", "bench", "-l", "foo"]),
      2,
      /invalid label "foo": expected KEY=VALUE/,
    );
    assertOneLineError(
      await admin(dir, ["create", "client", "Alice_1"]),
      2,
      /invalid client name "Alice_1"/,
    );
    const help = await jmp(dir, ["admin", "create", "client", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--save/);
  }),
);

function occupiedPort(): Promise<net.Server> {
  const server = net.createServer();
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

Deno.test(
  "jmp-controller run reports a busy address, bad certificates and damaged state in one line",
  withTempDir(async (dir) => {
    const run = (args: string[]) =>
      runToEnd(
        cliCommand("jmp-controller.ts", ["run", "--router-listen", "127.0.0.1:0", ...args]),
        env(dir),
      );
    const busy = await occupiedPort();
    try {
      const port = (busy.address() as net.AddressInfo).port;
      assertOneLineError(
        await run(["--data-dir", join(dir, "a"), "--listen", `127.0.0.1:${port}`]),
        1,
        /address already in use/,
      );
    } finally {
      busy.close();
    }
    assertOneLineError(
      await run([
        "--data-dir",
        join(dir, "b"),
        "--tls-cert",
        join(dir, "none.crt"),
        "--tls-key",
        "k",
      ]),
      1,
      /--tls-cert .*none\.crt: cannot read: no such file/,
    );
    assertOneLineError(
      await run(["--data-dir", join(dir, "b"), "--tls-cert", join(dir, "none.crt")]),
      2,
      /--tls-cert and --tls-key go together/,
    );
    mkdirSync(join(dir, "c"));
    writeFileSync(join(dir, "c", "state.db"), "not a database, just text ".repeat(100));
    assertOneLineError(
      await run(["--data-dir", join(dir, "c"), "--listen", "127.0.0.1:0"]),
      1,
      /state database .*state\.db/,
    );
    writeFileSync(join(dir, "file"), "");
    assertOneLineError(
      await run(["--data-dir", join(dir, "file", "sub"), "--listen", "127.0.0.1:0"]),
      1,
      /data folder .*file\/sub: not writable/,
    );
  }),
);
