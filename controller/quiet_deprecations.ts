// Imported before the Kubernetes client: one of its dependencies loads node:punycode, whose
// deprecation warning would otherwise be printed by every command that talks to a cluster.
import process from "node:process";

process.noDeprecation = true;
