import { strict as assert } from "node:assert";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withTempDir } from "../tests/fixtures/temp_dir.ts";
import { AliasError, ConfigError } from "./errors.ts";
import {
  type ClientConfig,
  clientConfigDir,
  clientConfigPath,
  deleteClientConfig,
  listClientConfigs,
  loadClientConfig,
  parseClientConfig,
  parseClientConfigSources,
  renderClientConfig,
  saveClientConfig,
} from "./client_config.ts";

const TOKEN = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjbGllbnQ6ZGVmYXVsdDpsYWIifQ.c2ln";

// As upstream's `jmp config client create` writes it.
const UPSTREAM = `apiVersion: jumpstarter.dev/v1alpha1
kind: ClientConfig
metadata:
  namespace: lab-ns
  name: ada
endpoint: jumpstarter.example.com:443
tls:
  ca: ''
  insecure: false
token: ${TOKEN}
grpcOptions: {}
drivers:
  allow:
  - jumpstarter_driver_*
  unsafe: false
shell:
  use_profiles: false
leases:
  acquisition_timeout: 7200
`;

function envFor(dir: string): Record<string, string> {
  return { XDG_CONFIG_HOME: join(dir, "xdg"), HOME: join(dir, "home") };
}

function parseError(text: string, file = "/c/clients/lab.yaml"): ConfigError {
  try {
    parseClientConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
    return err;
  }
  return assert.fail("expected parsing to fail");
}

Deno.test("an upstream client config parses into the typed structure", () => {
  const config = parseClientConfig(UPSTREAM, "/c/clients/lab.yaml");
  const expected: ClientConfig = {
    file: "/c/clients/lab.yaml",
    alias: "lab",
    apiVersion: "jumpstarter.dev/v1alpha1",
    kind: "ClientConfig",
    metadata: { name: "ada", namespace: "lab-ns" },
    endpoint: "jumpstarter.example.com:443",
    token: TOKEN,
    tls: { insecure: false },
    grpcOptions: {},
    drivers: { allow: ["jumpstarter_driver_*"], unsafe: false },
    shell: { useProfiles: false },
    leases: { acquisitionTimeout: 7200, dialTimeout: 60, retryTimeout: 300 },
  };
  assert.deepEqual(config, expected);
});

Deno.test("the configuration document's kind: Client is read and kept", () => {
  const config = parseClientConfig(
    "apiVersion: jumpstarter.dev/v1alpha1\nkind: Client\nendpoint: e:443\ntoken: t\n",
    "/c/lab.yaml",
  );
  assert.equal(config.kind, "Client");
});

Deno.test("absent fields take their defaults: name from the file, namespace default", () => {
  const config = parseClientConfig(
    "endpoint: ''\ntoken: null\nmetadata: {name: ''}\nrefresh_token: r\n" +
      "tls: {ca: Zm9v, insecure: true}\ngrpcOptions: {grpc.max_receive_message_length: 1000}\n" +
      "leases: {dial_timeout: 5, retry_timeout: 10}\nshell: {use_profiles: true}\n",
    "/c/bench-1.yaml",
  );
  assert.equal(config.kind, "ClientConfig");
  assert.deepEqual(config.metadata, { name: "bench-1", namespace: "default" });
  assert.equal(config.endpoint, undefined);
  assert.equal(config.token, undefined);
  assert.equal(config.refreshToken, "r");
  assert.deepEqual(config.tls, { ca: "Zm9v", insecure: true });
  assert.deepEqual(config.grpcOptions, { "grpc.max_receive_message_length": 1000 });
  assert.deepEqual(config.leases, { acquisitionTimeout: 7200, dialTimeout: 5, retryTimeout: 10 });
  assert.deepEqual(config.shell, { useProfiles: true });
});

Deno.test("UNSAFE in drivers.allow means unsafe", () => {
  const { config, fromFile } = parseClientConfigSources(
    "drivers: {allow: [a.*, UNSAFE]}\n",
    "/c/lab.yaml",
  );
  assert.deepEqual(config.drivers, { allow: ["a.*"], unsafe: true });
  assert.ok(fromFile.has("drivers.unsafe"));
});

Deno.test("an unknown key is reported with its YAML path and a suggestion", () => {
  const err = parseError("endpoint: e\ntls:\n  insecur: true\n");
  assert.equal(err.path, "tls");
  assert.match(
    err.message,
    /^\/c\/clients\/lab\.yaml: tls: unknown key "insecur" \(did you mean "insecure"\?\)/,
  );
  assert.equal(parseError("endpont: e\n").path, "");
  assert.match(parseError("endpont: e\n").problem, /did you mean "endpoint"/);
  assert.equal(parseError("leases:\n  dial_timout: 3\n").path, "leases");
});

Deno.test("a wrong apiVersion or kind is refused, naming the accepted values", () => {
  assert.equal(
    parseError("apiVersion: jumpstarter.dev/v1\nkind: ClientConfig\n").message,
    '/c/clients/lab.yaml: apiVersion: must be "jumpstarter.dev/v1alpha1", got "jumpstarter.dev/v1"',
  );
  assert.equal(
    parseError("kind: ExporterConfig\n").message,
    '/c/clients/lab.yaml: kind: must be one of ClientConfig, Client, got "ExporterConfig"',
  );
});

Deno.test("wrong value types are reported at their path", () => {
  assert.equal(parseError("tls: {insecure: maybe}\n").path, "tls.insecure");
  assert.equal(parseError("drivers: {allow: [1]}\n").path, "drivers.allow[0]");
  assert.equal(parseError("leases: {acquisition_timeout: 1}\n").path, "leases.acquisition_timeout");
  assert.equal(parseError("grpcOptions: {a: [1]}\n").path, "grpcOptions.a");
  assert.match(parseError("").problem, /is empty/);
  assert.match(parseError("- a\n").problem, /must be a mapping/);
});

Deno.test("paths follow JMP_CLIENT_CONFIG_HOME, else XDG_CONFIG_HOME", () => {
  assert.equal(
    clientConfigPath("lab", { XDG_CONFIG_HOME: "/x" }),
    "/x/jumpstarter/clients/lab.yaml",
  );
  assert.equal(
    clientConfigDir({ XDG_CONFIG_HOME: "/x", JMP_CLIENT_CONFIG_HOME: "/j" }),
    "/j/clients",
  );
});

Deno.test(
  "aliases with / or .. are rejected before touching the disk",
  withTempDir((dir) => {
    const env = envFor(dir);
    for (const alias of ["a/b", "..", "../x", ".", "", "a\\b"]) {
      assert.throws(() => clientConfigPath(alias, env), AliasError);
      assert.throws(
        () => saveClientConfig({ alias, endpoint: "e:443", token: TOKEN }, env),
        AliasError,
      );
      assert.throws(() => deleteClientConfig(alias, env), AliasError);
      assert.throws(() => renderClientConfig({ alias, endpoint: "e", token: "t" }), AliasError);
    }
    assert.deepEqual(readdirSync(dir), []);
    return Promise.resolve();
  }),
);

Deno.test("a new config renders with upstream's keys, spelling and order", () => {
  assert.equal(
    renderClientConfig({ alias: "lab", endpoint: "jmp.example.com:443", token: TOKEN }),
    `apiVersion: jumpstarter.dev/v1alpha1
kind: ClientConfig
metadata:
  namespace: default
  name: lab
endpoint: jmp.example.com:443
tls:
  ca: ""
  insecure: false
token: ${TOKEN}
grpcOptions: {}
drivers:
  allow: []
  unsafe: false
shell:
  use_profiles: false
leases:
  acquisition_timeout: 7200
  dial_timeout: 60
  retry_timeout: 300
`,
  );
});

Deno.test(
  "save writes a private file that loads back to the same values",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const file = saveClientConfig({
      alias: "lab",
      name: "ada",
      namespace: "team",
      endpoint: "jmp.example.com:443",
      token: TOKEN,
      refreshToken: "refresh",
      ca: "LS0tLS1CRUdJTi",
      insecure: true,
      allow: ["jumpstarter_driver_power.*", "custom.*"],
      unsafe: false,
    }, env);
    assert.equal(file, join(dir, "xdg", "jumpstarter", "clients", "lab.yaml"));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const config = await loadClientConfig(file);
    assert.deepEqual(config, {
      file,
      alias: "lab",
      apiVersion: "jumpstarter.dev/v1alpha1",
      kind: "ClientConfig",
      metadata: { name: "ada", namespace: "team" },
      endpoint: "jmp.example.com:443",
      token: TOKEN,
      refreshToken: "refresh",
      tls: { ca: "LS0tLS1CRUdJTi", insecure: true },
      grpcOptions: {},
      drivers: { allow: ["jumpstarter_driver_power.*", "custom.*"], unsafe: false },
      shell: { useProfiles: false },
      leases: { acquisitionTimeout: 7200, dialTimeout: 60, retryTimeout: 300 },
    });
  }),
);

Deno.test(
  "save refuses to overwrite unless asked, and then keeps the file's kind spelling",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const file = clientConfigPath("lab", env);
    mkdirSync(clientConfigDir(env), { recursive: true });
    writeFileSync(file, "kind: Client\nendpoint: old:443\ntoken: old\n");
    assert.throws(
      () => saveClientConfig({ alias: "lab", endpoint: "new:443", token: TOKEN }, env),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message === `${file}: already exists; delete it first or pass --force`,
    );
    assert.equal(readFileSync(file, "utf8"), "kind: Client\nendpoint: old:443\ntoken: old\n");

    saveClientConfig({ alias: "lab", endpoint: "new:443", token: TOKEN }, env, {
      overwrite: true,
    });
    const config = await loadClientConfig(file);
    assert.equal(config.endpoint, "new:443");
    assert.equal(config.kind, "Client");
    assert.equal(statSync(file).mode & 0o777, 0o600);
  }),
);

Deno.test(
  "list sorts by alias and reports a broken file without throwing",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    assert.deepEqual(listClientConfigs(env), []);
    saveClientConfig({ alias: "zeta", endpoint: "z:443", token: TOKEN }, env);
    saveClientConfig({ alias: "alpha", endpoint: "a:443", token: TOKEN }, env);
    const clients = clientConfigDir(env);
    writeFileSync(join(clients, "broken.yaml"), "endpoint: [unclosed\n");
    writeFileSync(join(clients, "notes.txt"), "not a config\n");

    const entries = listClientConfigs(env);
    assert.deepEqual(entries.map((entry) => entry.alias), ["alpha", "broken", "zeta"]);
    assert.deepEqual(entries[0].config, await loadClientConfig(join(clients, "alpha.yaml")));
    assert.equal(entries[0].config?.endpoint, "a:443");
    assert.equal(entries[0].file, join(clients, "alpha.yaml"));
    assert.equal(entries[1].config, undefined);
    assert.match(entries[1].error ?? "", /broken\.yaml: invalid YAML at \d+:\d+/);
    assert.ok(!(entries[1].error ?? "").includes("\n"));
    assert.equal(entries[2].config?.endpoint, "z:443");
  }),
);

Deno.test(
  "delete removes the file and fails for one that does not exist",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const file = saveClientConfig({ alias: "lab", endpoint: "e:443", token: TOKEN }, env);
    assert.equal(deleteClientConfig("lab", env), file);
    assert.equal(existsSync(file), false);
    await assert.rejects(loadClientConfig(file), /cannot read: no such file/);
    assert.throws(
      () => deleteClientConfig("lab", env),
      (err: unknown) =>
        err instanceof ConfigError && err.file === file &&
        /no client config "lab"/.test(err.problem),
    );
  }),
);
