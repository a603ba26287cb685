/**
 * The test control plane's PKI: a CA, a serving certificate for 127.0.0.1/localhost, an admin client
 * certificate in system:masters, and the service-account signing key pair. Keys come from node:crypto
 * (EC P-256, instant); certificates from the openssl CLI, which node:crypto cannot issue.
 */

import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Paths (and the PEM text tests need) of the control plane's keys and certificates. */
export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
  /** PEM text of the CA certificate, the admin certificate and the admin key. */
  pem: { ca: string; adminCert: string; adminKey: string };
}

/** Writes a new EC P-256 private key (PKCS#8 PEM) to `path`; returns it and its public key in PEM. */
export function newKey(path: string): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const priv = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  writeFileSync(path, priv, { mode: 0o600 });
  return { priv, pub: publicKey.export({ type: "spki", format: "pem" }).toString() };
}

/** An openssl config with one subject and one extension section, so no system defaults leak in. */
function config(path: string, subject: Record<string, string>, ext: string[]): string {
  const dn = Object.entries(subject).map(([k, v]) => `${k} = ${v}`);
  writeFileSync(
    path,
    ["[req]", "distinguished_name = dn", "prompt = no", "[dn]", ...dn, "[ext]", ...ext, ""].join("\n"),
  );
  return path;
}

/**
 * Signs a certificate for the key at `dir`/`name`.key with the CA in `dir` (`req -x509 -CA` skips the
 * separate CSR step); `ext` are openssl extension lines. Returns the certificate's path.
 */
export async function issue(
  dir: string,
  name: string,
  subject: Record<string, string>,
  ext: string[],
): Promise<string> {
  const cfg = config(join(dir, `${name}.cnf`), subject, ext);
  const out = join(dir, `${name}.crt`);
  await run("openssl", [
    "req",
    "-new",
    "-x509",
    "-config",
    cfg,
    "-extensions",
    "ext",
    "-key",
    join(dir, `${name}.key`),
    "-CA",
    join(dir, "ca.crt"),
    "-CAkey",
    join(dir, "ca.key"),
    "-days",
    "30",
    "-sha256",
    "-out",
    out,
  ]);
  return out;
}

/** Writes the whole PKI into `dir` (which must exist). */
export async function makePki(dir: string): Promise<Pki> {
  newKey(join(dir, "ca.key"));
  newKey(join(dir, "serving.key"));
  const admin = newKey(join(dir, "admin.key"));
  const sa = newKey(join(dir, "sa.key"));
  writeFileSync(join(dir, "sa.pub"), sa.pub);
  const caCfg = config(join(dir, "ca.cnf"), { CN: "raftkv-test-ca" }, [
    "basicConstraints = critical, CA:TRUE",
    "keyUsage = critical, keyCertSign, cRLSign, digitalSignature",
    "subjectKeyIdentifier = hash",
  ]);
  // biome-ignore format: one flag and its value per line reads better here
  await run("openssl", ["req", "-new", "-x509", "-config", caCfg, "-extensions", "ext", "-key", join(dir, "ca.key"),
    "-days", "30", "-sha256", "-out", join(dir, "ca.crt")]);
  const leaf = ["basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature, keyEncipherment"];
  const [servingCert, adminCert] = await Promise.all([
    issue(dir, "serving", { CN: "kube-apiserver" }, [
      ...leaf,
      "extendedKeyUsage = serverAuth",
      "subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc",
    ]),
    issue(dir, "admin", { O: "system:masters", CN: "raftkv-test-admin" }, [...leaf, "extendedKeyUsage = clientAuth"]),
  ]);
  return {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    servingCert,
    servingKey: join(dir, "serving.key"),
    adminCert,
    adminKey: join(dir, "admin.key"),
    saKey: join(dir, "sa.key"),
    saPub: join(dir, "sa.pub"),
    pem: {
      ca: readFileSync(join(dir, "ca.crt"), "utf8"),
      adminCert: readFileSync(adminCert, "utf8"),
      adminKey: admin.priv,
    },
  };
}
