import { strict as assert } from "node:assert";
import { saveClientConfig, setCurrentClient } from "../config/mod.ts";
import { withTempDir } from "../tests/fixtures/temp_dir.ts";
import { AllowList, configuredAllowList } from "./allow_list.ts";

Deno.test("allow-list patterns are fnmatch wildcards over the whole name", () => {
  const allow = new AllowList(["npm:@acme/*", "jumpstarter_driver_?ower.*", "[ab]x#Client"]);
  assert.ok(allow.allows("npm:@acme/relay#Relay"));
  assert.ok(allow.allows("jumpstarter_driver_power.client.PowerClient"));
  assert.ok(allow.allows("bx#Client"));
  assert.ok(!allow.allows("npm:@evil/acme"));
  assert.ok(!allow.allows("cx#Client"));
  assert.ok(!allow.allows("xnpm:@acme/relay"), "a pattern matches from the start");
  assert.ok(!new AllowList().allows("anything"));
  assert.ok(new AllowList([], true).allows("anything"));
});

Deno.test("JMP_DRIVERS_ALLOW overrides the client config; UNSAFE allows everything", () => {
  const config = { allow: ["cfg.*"], unsafe: false };
  assert.ok(AllowList.fromEnv({}, config).allows("cfg.x"));
  const fromEnv = AllowList.fromEnv({ JMP_DRIVERS_ALLOW: "env.*, other" }, config);
  assert.ok(fromEnv.allows("env.x") && fromEnv.allows("other") && !fromEnv.allows("cfg.x"));
  assert.ok(AllowList.fromEnv({ JMP_DRIVERS_ALLOW: "UNSAFE" }, config).allows("anything"));
  assert.ok(AllowList.fromEnv({ JMP_DRIVERS_UNSAFE: "true" }).allows("anything"));
  assert.equal(fromEnv.toEnv(), "env.*,other");
});

Deno.test(
  "without JMP_DRIVERS_ALLOW the current client config's drivers section applies",
  withTempDir(async (dir) => {
    const env = { XDG_CONFIG_HOME: dir, HOME: dir };
    assert.ok(!(await configuredAllowList(env)).allows("npm:@acme/relay"), "nothing configured");
    saveClientConfig(
      { alias: "lab", endpoint: "lab:1", token: "t", allow: ["npm:@acme/*"] },
      env,
    );
    setCurrentClient("lab", env);
    assert.ok((await configuredAllowList(env)).allows("npm:@acme/relay"));
    const overridden = await configuredAllowList({ ...env, JMP_DRIVERS_ALLOW: "other" });
    assert.ok(!overridden.allows("npm:@acme/relay"), "the environment wins");
  }),
);
