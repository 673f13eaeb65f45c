/**
 * The webhook's own PKI, made with node-forge: a CA and a serving certificate it signs.
 * RSA keys come from node:crypto (forge's pure-JS key generation takes seconds); forge
 * builds and signs the X.509 certificates.
 */
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

/** A PEM certificate and its private key, as a TLS server takes them. */
export interface KeyPair {
  key: string;
  cert: string;
}

export interface CertificateAuthority {
  cert: string;
  key: string;
}

export interface IssuedCertificate {
  cert: string;
  key: string;
  notAfter: Date;
}

function newKeyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f; // positive
  return bytes.toString('hex');
}

function baseCert(publicKey: forge.pki.PublicKey, validityMs: number, now: Date): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  // Backdated a minute so a peer with a slightly slow clock accepts it at once.
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + validityMs);
  return cert;
}

/** Names the signing key, so a verifier picks the right CA among several with one name. */
function authorityKeyId(caCert: forge.pki.Certificate) {
  return { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() };
}

export function createCA(commonName: string, validityMs: number, now = new Date()): CertificateAuthority & { notAfter: Date } {
  const keys = newKeyPair();
  const cert = baseCert(keys.publicKey, validityMs, now);
  // A name of its own per CA (`NAME-SECONDS`, as kube-apiserver names its own): while two CAs sit in
  // one caBundle, clients that look issuers up by name (OpenSSL) would otherwise try the
  // wrong one and fail with "certificate signature failure".
  const subject = [
    { name: 'commonName', value: `${commonName}-${Math.floor(now.getTime() / 1000)}` },
    { name: 'organizationName', value: 'shimmy' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.pem, notAfter: cert.validity.notAfter };
}

export function issueServingCert(ca: CertificateAuthority, hosts: readonly string[], validityMs: number, now = new Date()): IssuedCertificate {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const keys = newKeyPair();
  const cert = baseCert(keys.publicKey, validityMs, now);
  cert.setSubject([{ name: 'commonName', value: hosts[0] ?? 'shimmy-webhook' }]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 7, ip: h } : { type: 2, value: h }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    authorityKeyId(caCert),
    { name: 'subjectAltName', altNames },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.pem, notAfter: cert.validity.notAfter };
}

/** A client certificate (`clientAuth`) for `commonName` in the groups `organizations`. */
export function issueClientCert(
  ca: CertificateAuthority,
  commonName: string,
  organizations: readonly string[],
  validityMs: number,
  now = new Date(),
): IssuedCertificate {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const keys = newKeyPair();
  const cert = baseCert(keys.publicKey, validityMs, now);
  cert.setSubject([{ name: 'commonName', value: commonName }, ...organizations.map((o) => ({ name: 'organizationName', value: o }))]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    authorityKeyId(caCert),
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.pem, notAfter: cert.validity.notAfter };
}

export interface CertInfo {
  notBefore: Date;
  notAfter: Date;
  issuer: string;
  subject: string;
}

/** Read with node:crypto, so certificates of any key type (cert-manager's ECDSA too) parse. */
export function certInfo(pem: string): CertInfo {
  const cert = new X509Certificate(pem);
  const cn = (name: string) => /^CN=(.*)$/m.exec(name)?.[1] ?? '';
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo), issuer: cn(cert.issuer), subject: cn(cert.subject) };
}

/** True when the certificate is valid for every name and IP address in `hosts` (its SANs). */
export function coversHosts(pem: string, hosts: readonly string[]): boolean {
  try {
    const cert = new X509Certificate(pem);
    return hosts.every((h) => (/^[\d.]+$|:/.test(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h, { subject: 'never' }) !== undefined));
  } catch {
    return false;
  }
}

/** True when `pem` was signed by `ca`. */
export function signedBy(pem: string, ca: string): boolean {
  try {
    const issuer = new X509Certificate(ca);
    const cert = new X509Certificate(pem);
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}
