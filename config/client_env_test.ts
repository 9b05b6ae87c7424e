import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { withTempDir } from "../tests/fixtures/temp_dir.ts";
import { AliasError, ConfigError } from "./errors.ts";
import { clientConfigPath, saveClientConfig } from "./client_config.ts";
import { redactToken, resolveClientConfig } from "./client_env.ts";
import { setCurrentClient, userConfigPath } from "./user_config.ts";

const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjbGllbnQifQ.c2lnbmF0dXJl";

function envFor(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { XDG_CONFIG_HOME: join(dir, "xdg"), HOME: join(dir, "home"), ...extra };
}

function write(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** Saves a full client config "lab" and makes it current; returns its path. */
function saveLab(env: Record<string, string>): string {
  const file = saveClientConfig({
    alias: "lab",
    name: "ada",
    namespace: "team",
    endpoint: "file.example.com:443",
    token: TOKEN,
    ca: "Zm9v",
    allow: ["file.*"],
  }, env);
  setCurrentClient("lab", env);
  return file;
}

async function resolveError(
  options: Parameters<typeof resolveClientConfig>[0],
): Promise<ConfigError> {
  try {
    await resolveClientConfig(options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
    return err;
  }
  return assert.fail("expected resolving to fail");
}

Deno.test(
  "the current client's file is used, every value's source being the file",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const file = saveLab(env);
    const { config, sources } = await resolveClientConfig({ env });
    assert.equal(config.file, file);
    assert.equal(config.endpoint, "file.example.com:443");
    for (const key of ["endpoint", "token", "metadata.name", "metadata.namespace", "tls.ca"]) {
      assert.deepEqual(sources[key], { source: "file", detail: file }, key);
    }
    // upstream writes insecure, allow and unsafe out, so they come from the file too
    assert.deepEqual(sources["tls.insecure"], { source: "file", detail: file });
    assert.deepEqual(sources["drivers.allow"], { source: "file", detail: file });
  }),
);

Deno.test(
  "each environment variable overrides the file's value and is named as the source",
  withTempDir(async (dir) => {
    const table: [
      string,
      string,
      string,
      (c: Awaited<ReturnType<typeof resolveClientConfig>>["config"]) => unknown,
      unknown,
    ][] = [
      ["JMP_ENDPOINT", "env.example.com:443", "endpoint", (c) => c.endpoint, "env.example.com:443"],
      ["JMP_TOKEN", "env-token", "token", (c) => c.token, "env-token"],
      ["JMP_NAMESPACE", "other-ns", "metadata.namespace", (c) => c.metadata.namespace, "other-ns"],
      ["JMP_NAME", "bob", "metadata.name", (c) => c.metadata.name, "bob"],
      ["JMP_DRIVERS_ALLOW", "a.*, b.* ,", "drivers.allow", (c) => c.drivers.allow, ["a.*", "b.*"]],
      ["JMP_DRIVERS_UNSAFE", "1", "drivers.unsafe", (c) => c.drivers.unsafe, true],
      ["JMP_DRIVERS_UNSAFE", "true", "drivers.unsafe", (c) => c.drivers.unsafe, true],
      ["JUMPSTARTER_GRPC_INSECURE", "1", "tls.insecure", (c) => c.tls.insecure, true],
      ["JMP_GRPC_INSECURE", "1", "tls.insecure", (c) => c.tls.insecure, true],
    ];
    const base = envFor(dir);
    const file = saveLab(base);
    for (const [name, value, key, read, expected] of table) {
      const { config, sources } = await resolveClientConfig({ env: { ...base, [name]: value } });
      assert.deepEqual(read(config), expected, name);
      assert.deepEqual(sources[key], { source: "env", detail: name }, name);
      const others = Object.entries(sources).filter(([k]) => k !== key);
      for (const [k, info] of others) assert.equal(info.source, "file", `${name} leaves ${k}`);
      assert.equal(config.file, file);
    }
  }),
);

Deno.test(
  "empty environment variables are unset and do not override",
  withTempDir(async (dir) => {
    const env = envFor(dir, { JMP_ENDPOINT: "", JMP_TOKEN: "", JMP_DRIVERS_ALLOW: "" });
    saveLab(env);
    const { config, sources } = await resolveClientConfig({ env });
    assert.equal(config.endpoint, "file.example.com:443");
    assert.equal(sources.endpoint.source, "file");
    assert.deepEqual(config.drivers.allow, ["file.*"]);
  }),
);

Deno.test(
  "JMP_DRIVERS_ALLOW=UNSAFE allows every driver",
  withTempDir(async (dir) => {
    const env = envFor(dir, { JMP_DRIVERS_ALLOW: "UNSAFE", JMP_DRIVERS_UNSAFE: "0" });
    saveLab(env);
    const { config, sources } = await resolveClientConfig({ env });
    assert.deepEqual(config.drivers, { allow: [], unsafe: true });
    assert.deepEqual(sources["drivers.unsafe"], { source: "env", detail: "JMP_DRIVERS_ALLOW" });
    assert.deepEqual(sources["drivers.allow"], { source: "env", detail: "JMP_DRIVERS_ALLOW" });
  }),
);

Deno.test(
  "JMP_DRIVERS_UNSAFE must be a yes or a no",
  withTempDir(async (dir) => {
    const env = envFor(dir, { JMP_DRIVERS_UNSAFE: "sure" });
    saveLab(env);
    const err = await resolveError({ env });
    assert.equal(err.path, "JMP_DRIVERS_UNSAFE");
    assert.match(err.problem, /got "sure"/);
  }),
);

Deno.test(
  "JUMPSTARTER_GRPC_INSECURE=1 makes TLS insecure even without a file",
  withTempDir(async (dir) => {
    const env = envFor(dir, {
      JMP_ENDPOINT: "e:443",
      JMP_TOKEN: TOKEN,
      JUMPSTARTER_GRPC_INSECURE: "1",
    });
    const { config, sources } = await resolveClientConfig({ env });
    assert.equal(config.tls.insecure, true);
    assert.deepEqual(sources["tls.insecure"], {
      source: "env",
      detail: "JUMPSTARTER_GRPC_INSECURE",
    });
    const off = await resolveClientConfig({ env: { ...env, JUMPSTARTER_GRPC_INSECURE: "0" } });
    assert.equal(off.config.tls.insecure, false);
    assert.equal(off.sources["tls.insecure"].source, "default");
  }),
);

Deno.test(
  "with no file, endpoint and token from the environment make a config",
  withTempDir(async (dir) => {
    const env = envFor(dir, { JMP_ENDPOINT: "e:443", JMP_TOKEN: TOKEN });
    const { config, sources } = await resolveClientConfig({ env });
    assert.deepEqual(config, {
      alias: "env",
      apiVersion: "jumpstarter.dev/v1alpha1",
      kind: "ClientConfig",
      metadata: { name: "env", namespace: "default" },
      endpoint: "e:443",
      token: TOKEN,
      tls: { insecure: false },
      grpcOptions: {},
      drivers: { allow: [], unsafe: false },
      shell: { useProfiles: false },
      leases: { acquisitionTimeout: 7200, dialTimeout: 60, retryTimeout: 300 },
    });
    assert.deepEqual(sources.endpoint, { source: "env", detail: "JMP_ENDPOINT" });
    assert.deepEqual(sources.token, { source: "env", detail: "JMP_TOKEN" });
    assert.equal(sources["metadata.namespace"].source, "default");
    assert.equal(sources["tls.ca"].source, "default");
  }),
);

Deno.test(
  "nothing configured is an error saying how to fix it",
  withTempDir(async (dir) => {
    const err = await resolveError({ env: envFor(dir) });
    assert.equal(
      err.message,
      "no client config: run `jmp client create NAME` or set JMP_ENDPOINT and JMP_TOKEN",
    );
    const partial = await resolveError({ env: envFor(dir, { JMP_TOKEN: TOKEN }) });
    assert.match(partial.message, /JMP_TOKEN is set but JMP_ENDPOINT is not/);
  }),
);

Deno.test(
  "a current client whose file is gone is mentioned in the error",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    setCurrentClient("gone", env);
    const err = await resolveError({ env });
    assert.match(err.message, /the current client "gone" .* has no config file .*gone\.yaml/);
    assert.match(err.message, /jmp client create NAME/);
  }),
);

Deno.test(
  "a file without an endpoint names the missing key and the variable that can set it",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const file = clientConfigPath("lab", env);
    write(file, `kind: ClientConfig\ntoken: ${TOKEN}\n`);
    const err = await resolveError({ alias: "lab", env });
    assert.equal(
      err.message,
      `${file}: endpoint: is not set: add it to the file or set JMP_ENDPOINT`,
    );
    const filled = await resolveClientConfig({
      alias: "lab",
      env: { ...env, JMP_ENDPOINT: "e:1" },
    });
    assert.equal(filled.config.endpoint, "e:1");
  }),
);

Deno.test(
  "the file is chosen by option, then JMP_CLIENT_CONFIG, alias, JMP_CLIENT, current client",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const make = (alias: string) =>
      saveClientConfig({ alias, endpoint: `${alias}:443`, token: TOKEN }, env);
    const a = make("a");
    for (const alias of ["b", "c", "d"]) make(alias);
    const loose = join(dir, "loose.yaml");
    write(loose, `endpoint: loose:443\ntoken: ${TOKEN}\n`);
    setCurrentClient("d", env);
    const endpoint = async (options: Parameters<typeof resolveClientConfig>[0]) =>
      (await resolveClientConfig(options)).config.endpoint;

    const all = { ...env, JMP_CLIENT_CONFIG: a, JMP_CLIENT: "c" };
    assert.equal(await endpoint({ file: loose, alias: "b", env: all }), "loose:443");
    assert.equal(await endpoint({ alias: "b", env: all }), "a:443");
    assert.equal(await endpoint({ alias: "b", env: { ...env, JMP_CLIENT: "c" } }), "b:443");
    assert.equal(await endpoint({ env: { ...env, JMP_CLIENT: "c" } }), "c:443");
    assert.equal(await endpoint({ env }), "d:443");
    const { config } = await resolveClientConfig({ file: loose, env });
    assert.equal(config.alias, "loose");
  }),
);

Deno.test(
  "a named client without a file is an error naming it",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    const err = await resolveError({ alias: "nope", env });
    assert.match(
      err.message,
      /^client "nope": no config file .*nope\.yaml: run `jmp client create nope`/,
    );
    const fromEnv = await resolveError({ env: { ...env, JMP_CLIENT: "nope" } });
    assert.match(fromEnv.message, /^client "nope" \(from JMP_CLIENT\): /);
  }),
);

Deno.test(
  "a bad alias is rejected before touching the disk",
  withTempDir(async (dir) => {
    const env = envFor(dir);
    await assert.rejects(resolveClientConfig({ alias: "../etc", env }), AliasError);
    await assert.rejects(resolveClientConfig({ env: { ...env, JMP_CLIENT: "a/b" } }), AliasError);
    write(userConfigPath(env), "config:\n  current-client: ..\n");
    await assert.rejects(resolveClientConfig({ env }), ConfigError);
  }),
);

Deno.test("tokens are shown redacted", () => {
  assert.equal(redactToken(undefined), "(not set)");
  assert.equal(redactToken(""), "(not set)");
  assert.equal(redactToken("x".repeat(412).replace(/^x{4}/, "eyJh")), "eyJh…(412 chars)");
  assert.equal(redactToken("short"), "…(5 chars)");
});
