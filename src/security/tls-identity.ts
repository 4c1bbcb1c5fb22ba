/**
 * The identity a verified client certificate stands for: its subject CN, or one kind of subject
 * alternative name, so the broker can map it to the MQTT user name.
 */
import { X509Certificate } from 'node:crypto';
import { MoatError } from '../codec/index.js';

export type CertIdentityField = 'cn' | 'san-dns' | 'san-email' | 'san-uri';
export const CERT_IDENTITY_FIELDS: readonly CertIdentityField[] = ['cn', 'san-dns', 'san-email', 'san-uri'];

const SAN_PREFIX: Record<Exclude<CertIdentityField, 'cn'>, string> = { 'san-dns': 'DNS:', 'san-email': 'email:', 'san-uri': 'URI:' };

/** Splits Node's subjectAltName ("DNS:a, URI:b"): quoted entries (JSON strings) carry escaped commas. */
function sanEntries(san: string): string[] {
  const out: string[] = [];
  const re = /\s*([A-Za-z ]+:)("(?:[^"\\]|\\.)*"|[^,]*)(?:,|$)/g;
  for (const m of san.matchAll(re)) {
    if (m[0] === '') break;
    const value = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    out.push(m[1]! + value);
  }
  return out;
}

function checkField(field: CertIdentityField): void {
  if (!CERT_IDENTITY_FIELDS.includes(field)) {
    throw new MoatError('MOAT_ERR_CONFIG', `unknown certificate identity "${String(field)}"; known: ${CERT_IDENTITY_FIELDS.join(', ')}`);
  }
}

/**
 * The identity from the parts Node already parsed (tls getPeerCertificate(): `subject.CN`, a list
 * when there are several, and `subjectaltname`), so a handshake does not parse the certificate twice.
 */
export function identityFromParts(cn: string | string[] | undefined, subjectAltName: string | undefined, field: CertIdentityField = 'cn'): string | undefined {
  checkField(field);
  if (field === 'cn') return Array.isArray(cn) ? cn[0] : cn;
  const prefix = SAN_PREFIX[field];
  const hit = sanEntries(subjectAltName ?? '').find((e) => e.startsWith(prefix));
  return hit?.slice(prefix.length);
}

/** The first CN, or the first SAN of the asked kind, of a DER certificate; undefined when it has none. */
export function certificateIdentity(der: Buffer, field: CertIdentityField = 'cn'): string | undefined {
  checkField(field);
  const cert = new X509Certificate(der);
  const cn = cert.subject.split('\n').find((line) => line.startsWith('CN='))?.slice(3);
  return identityFromParts(cn, cert.subjectAltName, field);
}
