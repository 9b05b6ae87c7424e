// The configuration commands run as the user runs them, against temporary config folders:
// XDG_CONFIG_HOME for the user's, JMP_SYSTEM_CONFIG_DIR standing in for /etc/jumpstarter.

import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { withTempDir } from "./fixtures/temp_dir.ts";
import { type Run, runToEnd, startUntil } from "./fixtures/processes_io.ts";
import { ignoreUnlessInstalled } from "./fixtures/optional_tools.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
// HOME moves to the temp folder; Deno's cache must not move with it.
const BASE_ENV = {
  PATH: process.env.PATH ?? "",
  DENO_DIR: process.env.DENO_DIR ??
    join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "deno"),
};

/** Runs `jmp` (or another binary entry) with config folders under `dir` and the given env. */
function cli(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
  entry = "cli/jmp.ts",
): Promise<Run> {
  return runToEnd([process.execPath, "run", "-A", join(ROOT, entry), ...args], {
    ...BASE_ENV,
    HOME: join(dir, "home"),
    XDG_CONFIG_HOME: join(dir, "xdg"),
    JMP_SYSTEM_CONFIG_DIR: join(dir, "etc"),
    ...env,
  });
}

Deno.test(
  "jmp exporter create writes a private config under the system folder, or the user's",
  withTempDir(async (dir) => {
    const made = await cli(dir, [
      "exporter",
      "create",
      "bench",
      "--endpoint",
      "ctl:8082",
      "--token",
      "t0k",
    ]);
    assert.equal(made.code, 0, made.stderr);
    const file = join(dir, "etc/exporters/bench.yaml");
    assert.equal(made.stdout, `Created exporter config '${file}'; add drivers under export:\n`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, "utf8");
    assert.match(text, /^apiVersion: jumpstarter\.dev\/v1alpha1\nkind: ExporterConfig\n/);
    assert.match(text, /\nendpoint: ctl:8082\ntoken: t0k\n/);
    const user = await cli(dir, [
      "exporter",
      "create",
      "mine",
      "--user",
      "--endpoint",
      "e",
      "--token",
      "t",
    ]);
    assert.equal(user.code, 0, user.stderr);
    assert.ok(existsSync(join(dir, "xdg/jumpstarter/exporters/mine.yaml")));
  }),
);

Deno.test(
  "jmp exporter create without a terminal needs its flags, and never replaces a file unasked",
  withTempDir(async (dir) => {
    const missing = await cli(dir, ["exporter", "create", "bench", "--endpoint", "e"]);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, "error: --token is required (no terminal to ask on)\n");
    assert.ok(!existsSync(join(dir, "etc/exporters/bench.yaml")), "nothing written");
    await cli(dir, ["exporter", "create", "bench", "--endpoint", "e", "--token", "one"]);
    const again = await cli(dir, [
      "exporter",
      "create",
      "bench",
      "--endpoint",
      "e",
      "--token",
      "two",
    ]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /bench\.yaml: already exists; delete it first or pass --force\n$/);
    assert.match(readFileSync(join(dir, "etc/exporters/bench.yaml"), "utf8"), /token: one/);
    const forced = await cli(dir, [
      "exporter",
      "create",
      "bench",
      "--endpoint",
      "e",
      "--token",
      "two",
      "--force",
    ]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(readFileSync(join(dir, "etc/exporters/bench.yaml"), "utf8"), /token: two/);
  }),
);

Deno.test(
  "names with path separators or .. are refused before anything is touched",
  withTempDir(async (dir) => {
    for (const name of ["../evil", "a/b", "..", "a\\b"]) {
      const run = await cli(dir, ["exporter", "create", name, "--endpoint", "e", "--token", "t"]);
      assert.equal(run.code, 2, name);
      assert.match(run.stderr, /^error: alias ".*": must not/);
    }
    assert.ok(!existsSync(join(dir, "etc")), "no folder was created");
  }),
);

Deno.test(
  "jmp exporter list shows ALIAS and PATH of user and system configs, in every format",
  withTempDir(async (dir) => {
    await cli(dir, ["exporter", "create", "sys", "--endpoint", "e", "--token", "t"]);
    await cli(dir, ["exporter", "create", "usr", "--user", "--endpoint", "e", "--token", "t"]);
    const usr = join(dir, "xdg/jumpstarter/exporters/usr.yaml");
    const sys = join(dir, "etc/exporters/sys.yaml");
    const text = await cli(dir, ["exporter", "list"]);
    assert.equal(text.stdout, `ALIAS   PATH\nusr     ${usr}\nsys     ${sys}\n`);
    const json = await cli(dir, ["exporter", "list", "-o", "json"]);
    assert.deepEqual(JSON.parse(json.stdout), [{ alias: "usr", path: usr }, {
      alias: "sys",
      path: sys,
    }]);
    const yaml = await cli(dir, ["exporter", "list", "-o", "yaml"]);
    assert.equal(yaml.stdout, `- alias: usr\n  path: ${usr}\n- alias: sys\n  path: ${sys}\n`);
    assert.equal((await cli(dir, ["exporter", "list", "-o", "name"])).stdout, "usr\nsys\n");
    const bad = await cli(dir, ["exporter", "list", "-o", "xml"]);
    assert.equal(bad.code, 2);
  }),
);

Deno.test(
  "jmp exporter delete removes the config; a missing one is a clear error",
  withTempDir(async (dir) => {
    await cli(dir, ["exporter", "create", "bench", "--endpoint", "e", "--token", "t"]);
    const deleted = await cli(dir, ["exporter", "delete", "bench"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.ok(!existsSync(join(dir, "etc/exporters/bench.yaml")));
    const again = await cli(dir, ["exporter", "delete", "bench"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error: exporter "bench": no config file; looked for /);
  }),
);

Deno.test(
  "jmp exporter run and jmp-exporter run say which config they use and serve it",
  withTempDir(async (dir) => {
    mkdirSync(join(dir, "etc/exporters"), { recursive: true });
    copyFileSync(join(ROOT, "examples/demo-exporter.yaml"), join(dir, "etc/exporters/demo.yaml"));
    const file = join(dir, "etc/exporters/demo.yaml");
    for (
      const [entry, args] of [
        ["cli/jmp.ts", ["exporter", "run", "demo"]],
        ["cli/jmp-exporter.ts", ["run", "-c", file]],
      ] as const
    ) {
      const running = await startUntil(
        [
          process.execPath,
          "run",
          "-A",
          join(ROOT, entry),
          ...args,
          "--listen",
          `unix:${join(dir, "run.sock")}`,
        ],
        { ...BASE_ENV, JMP_SYSTEM_CONFIG_DIR: join(dir, "etc"), HOME: dir },
        "stdout",
        "listening on",
      );
      assert.equal(
        running.output,
        `Using exporter config '${file}'\nlistening on unix:${join(dir, "run.sock")}\n`,
      );
      await running.stop();
    }
    // A config with a controller endpoint registers with it, and keeps trying while it is away.
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(
        "metadata:",
        "endpoint: http://127.0.0.1:1\ntoken: t0k3n\nmetadata:",
      ),
    );
    const running = await startUntil(
      [process.execPath, "run", "-A", join(ROOT, "cli/jmp.ts"), "exporter", "run", "demo"],
      { ...BASE_ENV, JMP_SYSTEM_CONFIG_DIR: join(dir, "etc"), HOME: dir },
      "stderr",
      "retrying in",
    );
    assert.match(
      running.output,
      /controller unreachable \(cannot reach 127\.0\.0\.1:1: .*\); retrying in/,
    );
    await running.stop();
  }),
);

Deno.test(
  "jmp exporter run on a broken config names the file and field",
  withTempDir(async (dir) => {
    await cli(dir, ["exporter", "create", "empty", "--endpoint", "e", "--token", "t"]);
    const run = await cli(dir, ["exporter", "run", "empty"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^error: .*empty\.yaml: export: lists no drivers: add some .* before serving it\n$/,
    );
  }),
);

const clientFile = (dir: string, name: string) =>
  join(dir, "xdg/jumpstarter/clients", `${name}.yaml`);
const userFile = (dir: string) => join(dir, "xdg/jumpstarter/config.yaml");

Deno.test(
  "jmp client create writes a private config and makes the first one current",
  withTempDir(async (dir) => {
    writeFileSync(
      join(dir, "ca.pem"),
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    const made = await cli(dir, [
      ...["client", "create", "lab", "--endpoint", "grpc.lab:8082", "--token", "secret-token"],
      ...[
        "--namespace",
        "team",
        "--allow",
        "npm:@acme/*,jumpstarter_driver_*",
        "--ca",
        join(dir, "ca.pem"),
      ],
    ]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(
      made.stdout,
      `Created client config '${clientFile(dir, "lab")}'\nUsing client config 'lab'\n`,
    );
    assert.equal(statSync(clientFile(dir, "lab")).mode & 0o777, 0o600);
    const text = readFileSync(clientFile(dir, "lab"), "utf8");
    assert.match(text, /kind: ClientConfig/);
    assert.match(text, /endpoint: grpc\.lab:8082/);
    assert.match(text, /namespace: team/);
    assert.match(text, /- npm:@acme\/\*/);
    assert.ok(
      text.includes(btoa(readFileSync(join(dir, "ca.pem"), "utf8"))),
      "the CA is stored as base64 PEM",
    );
    assert.match(readFileSync(userFile(dir), "utf8"), /current-client: lab/);
    const second = await cli(dir, [
      "client",
      "create",
      "home",
      "--endpoint",
      "h:1",
      "--token",
      "t",
    ]);
    assert.equal(
      second.stdout,
      `Created client config '${clientFile(dir, "home")}'\n`,
      "the current one stays",
    );
  }),
);

Deno.test(
  "jmp client list-configs marks the current one; use-config switches and keeps comments",
  withTempDir(async (dir) => {
    await cli(dir, ["client", "create", "lab", "--endpoint", "grpc.lab:8082", "--token", "t"]);
    await cli(dir, ["client", "create", "home", "--endpoint", "home:8082", "--token", "t"]);
    const list = await cli(dir, ["client", "list-configs"]);
    const lines = list.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^CURRENT +NAME +ENDPOINT +PATH$/);
    assert.match(lines[1], /^ +home +home:8082 +\S+home\.yaml$/);
    assert.match(lines[2], /^\* +lab +grpc\.lab:8082 +\S+lab\.yaml$/);
    writeFileSync(userFile(dir), `# picked by hand\n${readFileSync(userFile(dir), "utf8")}`);
    const use = await cli(dir, ["config", "client", "use", "home"]);
    assert.equal(use.stdout, "Using client config 'home'\n", use.stderr);
    const user = readFileSync(userFile(dir), "utf8");
    assert.match(user, /^# picked by hand\n/);
    assert.match(user, /current-client: home/);
    const json = JSON.parse((await cli(dir, ["config", "client", "list", "-o", "json"])).stdout);
    assert.deepEqual(json.map((r: { name: string; current: boolean }) => [r.name, r.current]), [[
      "home",
      true,
    ], ["lab", false]]);
    assert.equal((await cli(dir, ["client", "list-configs", "-o", "name"])).stdout, "home\nlab\n");
    const unknown = await cli(dir, ["client", "use-config", "nope"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no client config "nope" \(have: home, lab\)/);
  }),
);

Deno.test(
  "jmp client delete-config removes the file and clears current-client pointing at it",
  withTempDir(async (dir) => {
    await cli(dir, ["client", "create", "lab", "--endpoint", "e:1", "--token", "t"]);
    const deleted = await cli(dir, ["client", "delete-config", "lab"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.ok(!existsSync(clientFile(dir, "lab")));
    assert.match(readFileSync(userFile(dir), "utf8"), /current-client: null/);
    const again = await cli(dir, ["config", "client", "delete", "lab"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /lab\.yaml/);
  }),
);

Deno.test(
  "the environment overrides the file, and show says where each value came from",
  withTempDir(async (dir) => {
    await cli(dir, [
      "client",
      "create",
      "lab",
      "--endpoint",
      "file:8082",
      "--token",
      "file-token-123456",
    ]);
    const fromFile = await cli(dir, ["client", "show"]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match(fromFile.stdout, /endpoint +file:8082 +\(file: .*lab\.yaml\)/);
    assert.ok(!fromFile.stdout.includes("file-token-123456"), "the token is redacted");
    const env = {
      JMP_ENDPOINT: "env:8082",
      JMP_TOKEN: "env-token-abcdef",
      JMP_NAMESPACE: "ns-env",
      JMP_NAME: "name-env",
      JMP_DRIVERS_ALLOW: "a.*,UNSAFE",
      JUMPSTARTER_GRPC_INSECURE: "1",
    };
    const shown = await cli(dir, ["config", "client", "show", "-o", "json"], env);
    assert.equal(shown.code, 0, shown.stderr);
    const values = JSON.parse(shown.stdout).values;
    const expect: Record<string, [unknown, string]> = {
      "endpoint": ["env:8082", "JMP_ENDPOINT"],
      "metadata.namespace": ["ns-env", "JMP_NAMESPACE"],
      "metadata.name": ["name-env", "JMP_NAME"],
      "tls.insecure": [true, "JUMPSTARTER_GRPC_INSECURE"],
      "drivers.unsafe": [true, "JMP_DRIVERS_ALLOW"],
    };
    for (const [key, [value, variable]] of Object.entries(expect)) {
      assert.equal(values[key].value, value, key);
      assert.equal(values[key].source, "env", key);
      assert.equal(values[key].detail, variable, key);
    }
    assert.equal(values.token.source, "env");
    assert.ok(!shown.stdout.includes("env-token-abcdef"));
    // A whole config from the environment alone, with no file at all.
    const bare = await cli(dir, ["client", "show", "-o", "json"], {
      JMP_CLIENT_CONFIG: join(dir, "none.yaml"),
    });
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, /none\.yaml: cannot read: no such file/);
  }),
);

Deno.test(
  "bad client configs and inputs are one-line errors and change nothing",
  withTempDir(async (dir) => {
    mkdirSync(join(dir, "xdg/jumpstarter/clients"), { recursive: true });
    writeFileSync(
      clientFile(dir, "broken"),
      "apiVersion: jumpstarter.dev/v1alpha1\nkind: Exporter\n",
    );
    writeFileSync(clientFile(dir, "syntax"), "endpoint: [unclosed\n");
    const list = await cli(dir, ["client", "list-configs"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /broken +\(broken: .*kind/);
    const show = await cli(dir, ["client", "show", "syntax"]);
    assert.equal(show.code, 1);
    assert.equal(show.stderr.trim().split("\n").length, 1, show.stderr);
    assert.match(show.stderr, /syntax\.yaml: invalid YAML at \d+:\d+/);
    const noToken = await cli(dir, ["client", "create", "x", "--endpoint", "e:1"]);
    assert.equal(noToken.code, 2);
    assert.ok(!existsSync(clientFile(dir, "x")));
    const evil = await cli(dir, ["client", "create", "../x", "--endpoint", "e", "--token", "t"]);
    assert.equal(evil.code, 2);
    assert.match(evil.stderr, /^error: alias "\.\.\/x": must not/);
    const ca = await cli(dir, [
      "client",
      "create",
      "y",
      "--endpoint",
      "e",
      "--token",
      "t",
      "--ca",
      join(dir, "nope.pem"),
    ]);
    assert.equal(ca.code, 1);
    assert.match(ca.stderr, /--ca .*nope\.pem: cannot read/);
    assert.ok(!existsSync(clientFile(dir, "y")));
  }),
);

Deno.test(
  "create --force on a hand-edited client config keeps its comments and other settings",
  withTempDir(async (dir) => {
    await cli(dir, ["client", "create", "lab", "--endpoint", "old:1", "--token", "t1"]);
    const file = clientFile(dir, "lab");
    writeFileSync(
      file,
      `# lab controller, ask Ana for a token\n${
        readFileSync(file, "utf8").replace("dial_timeout: 60", "dial_timeout: 90 # slow VPN")
      }`,
    );
    const again = await cli(dir, [
      "client",
      "create",
      "lab",
      "--endpoint",
      "new:1",
      "--token",
      "t2",
      "--force",
    ]);
    assert.equal(again.code, 0, again.stderr);
    const text = readFileSync(file, "utf8");
    assert.match(text, /^# lab controller, ask Ana for a token\n/);
    assert.match(text, /dial_timeout: 90 # slow VPN/);
    assert.match(text, /endpoint: new:1/);
    assert.match(text, /token: t2/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  }),
);

Deno.test(
  "the environment overrides an exporter config too, and exporter show says so",
  withTempDir(async (dir) => {
    await cli(dir, [
      "exporter",
      "create",
      "bench",
      "--endpoint",
      "file:8082",
      "--token",
      "file-token-xyz",
    ]);
    const plain = await cli(dir, ["exporter", "show", "bench", "-o", "json"]);
    assert.equal(plain.code, 0, plain.stderr);
    const before = JSON.parse(plain.stdout).values;
    assert.equal(before.endpoint.value, "file:8082");
    assert.equal(before.endpoint.source, "file");
    const env = {
      JMP_ENDPOINT: "env:8082",
      JMP_TOKEN: "env-token-123",
      JMP_NAMESPACE: "lab",
      JMP_NAME: "bench-env",
      JUMPSTARTER_GRPC_INSECURE: "1",
    };
    const shown = await cli(dir, ["config", "exporter", "show", "bench", "-o", "json"], env);
    const values = JSON.parse(shown.stdout).values;
    for (
      const [key, value, variable] of [
        ["endpoint", "env:8082", "JMP_ENDPOINT"],
        ["metadata.namespace", "lab", "JMP_NAMESPACE"],
        ["metadata.name", "bench-env", "JMP_NAME"],
        ["tls.insecure", true, "JUMPSTARTER_GRPC_INSECURE"],
      ] as const
    ) {
      assert.equal(values[key].value, value, key);
      assert.deepEqual([values[key].source, values[key].detail], ["env", variable], key);
    }
    assert.equal(values.token.source, "env");
    assert.ok(!shown.stdout.includes("env-token-123") && !plain.stdout.includes("file-token-xyz"));
  }),
);

// `script` (util-linux) gives the command a terminal, as a user at a prompt has.
const SCRIPT_MISSING = spawnSync("script", ["--version"]).error
  ? "script (util-linux) is not installed"
  : undefined;

Deno.test({
  name: `on a terminal, create asks for what the flags left out${
    SCRIPT_MISSING ? ` (ignored: ${SCRIPT_MISSING})` : ""
  }`,
  ignore: ignoreUnlessInstalled(SCRIPT_MISSING),
  fn: withTempDir(async (dir) => {
    for (
      const [args, file] of [
        [["client", "create", "tty"], clientFile(dir, "tty")],
        [["exporter", "create", "tty"], join(dir, "etc/exporters/tty.yaml")],
      ] as const
    ) {
      const command = [process.execPath, "run", "-A", join(ROOT, "cli/jmp.ts"), ...args]
        .map((w) => `'${w}'`).join(" ");
      const child = spawn("script", ["-qec", command, "/dev/null"], {
        env: {
          ...BASE_ENV,
          HOME: join(dir, "home"),
          XDG_CONFIG_HOME: join(dir, "xdg"),
          JMP_SYSTEM_CONFIG_DIR: join(dir, "etc"),
        },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stdin.end("grpc.lab:8082\ntyped-token\n");
      const code = await new Promise((resolve) => child.on("close", resolve));
      assert.equal(code, 0, out);
      assert.match(out, /Endpoint: .*Token: /s);
      const text = readFileSync(file, "utf8");
      assert.match(text, /endpoint: grpc\.lab:8082/);
      assert.match(text, /token: typed-token/);
    }
  }),
});

Deno.test(
  "a config folder that cannot be read is one error line naming it",
  withTempDir(async (dir) => {
    mkdirSync(join(dir, "xdg/jumpstarter"), { recursive: true });
    writeFileSync(join(dir, "xdg/jumpstarter/clients"), "a file where a folder should be\n");
    const run = await cli(dir, ["client", "list-configs"]);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      `error: ${
        join(dir, "xdg/jumpstarter/clients")
      }: cannot list: a parent of it is not a directory\n`,
    );
  }),
);

Deno.test(
  "JMP_CLIENT and JMP_CLIENT_CONFIG pick the config; with none at all, show says what to do",
  withTempDir(async (dir) => {
    const none = await cli(dir, ["client", "show"]);
    assert.equal(none.code, 1);
    assert.equal(
      none.stderr,
      "error: no client config: run `jmp client create NAME` or set JMP_ENDPOINT and JMP_TOKEN\n",
    );
    await cli(dir, ["config", "client", "create", "lab", "--endpoint", "lab:1", "--token", "t"]);
    await cli(dir, ["config", "client", "create", "home", "--endpoint", "home:1", "--token", "t"]);
    const endpointOf = async (env: Record<string, string>) =>
      JSON.parse((await cli(dir, ["client", "show", "-o", "json"], env)).stdout).values.endpoint
        .value;
    assert.equal(await endpointOf({}), "lab:1", "the current one (the first created)");
    assert.equal(await endpointOf({ JMP_CLIENT: "home" }), "home:1");
    assert.equal(await endpointOf({ JMP_CLIENT_CONFIG: clientFile(dir, "home") }), "home:1");
    const wrong = join(dir, "wrong.yaml");
    writeFileSync(
      wrong,
      "apiVersion: jumpstarter.dev/v2\nkind: ClientConfig\nendpoint: e\ntoken: t\n",
    );
    const bad = await cli(dir, ["client", "show"], { JMP_CLIENT_CONFIG: wrong });
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /^error: .*wrong\.yaml: apiVersion: must be "jumpstarter\.dev\/v1alpha1"/,
    );
    assert.equal(bad.stderr.split("\n").length, 2, "one line");
  }),
);
