/**
 * What a TLS listener is configured with: the options prepareTls takes (files, so they can be
 * reloaded, or PEM, or plain Node options as before profiles), and the mapping from the broker's
 * configuration keys onto them.
 */
import type { SecureContextOptions } from 'node:tls';
import type { CertIdentityField } from './tls-identity.js';
import type { TlsProfileName } from './tls-profiles.js';

export type ClientCertMode = 'none' | 'optional' | 'required';

export type Pem = string | Buffer | Array<string | Buffer>;

/** A certificate for one SNI name (or `*.domain`): files (reloaded) or PEM. */
export interface SniEntry {
  certFile?: string;
  keyFile?: string;
  cert?: Pem;
  key?: Pem;
}

export interface TlsListenerConfig {
  /** Default `modern`. */
  profile?: TlsProfileName;
  /** FIPS-approved algorithms only; refuses to start unless OpenSSL is in FIPS mode. */
  fips?: boolean;
  /** Server certificate chain (leaf first, then intermediates) and key, PEM files; reloaded on change. */
  certFile?: string;
  keyFile?: string;
  /** Device CA bundle that verifies client certificates (used only for that, never sent as chain). */
  caFile?: string;
  /** PEM CRL(s) from the device CA. */
  crlFile?: string;
  /** identity:hexkey lines (Mosquitto's psk_file). */
  pskFile?: string;
  /** Per-name certificates; names not listed get the default one. */
  sni?: Record<string, SniEntry>;
  /** Default `none`, or from requestCert/rejectUnauthorized when those are given. */
  clientCert?: ClientCertMode;
  /** Which part of a verified client certificate becomes `certIdentity` (default `cn`). */
  certIdentity?: CertIdentityField;
  /** 48-byte ticket key file (created when absent); without it a random key in memory. */
  ticketKeyFile?: string;
  /** Rotate the ticket key this often (default 86400; 0 never). */
  ticketRotationSeconds?: number;
  /** Default: derived from the profile, client certificate mode, CA, CRL and PSK contents. */
  sessionIdContext?: string;
  /** ALPN protocols (mqtts default ['mqtt']; clients offering none still connect). */
  alpn?: string[];
  /** Watch the files and reload on change (default true). */
  watch?: boolean;
  /** Quiet time after the last file event before reloading (default 200 ms). */
  reloadDebounceMs?: number;
}

/** What callers may pass: the config above, and plain Node options (cert, key, ca, minVersion…) as before. */
export type TlsListenerOptions = TlsListenerConfig & SecureContextOptions & {
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  ALPNProtocols?: string[];
};

export function clientCertMode(o: TlsListenerOptions): ClientCertMode {
  if (o.clientCert) return o.clientCert;
  if (o.requestCert) return o.rejectUnauthorized === false ? 'optional' : 'required';
  return 'none';
}

/** The per-listener keys of the broker's configuration file (src/cli/broker-config.ts ListenerConfig). */
export interface ListenerTlsKeys {
  cert?: string;
  key?: string;
  ca?: string;
  crl?: string;
  pskFile?: string;
  tlsProfile?: TlsProfileName;
  fips?: boolean;
  sni?: Record<string, { cert: string; key: string }>;
  ticketKeyFile?: string;
  ticketRotationSeconds?: number;
  sessionTimeout?: number;
  requireClientCert?: boolean;
  certIdentity?: CertIdentityField;
}

/**
 * Configuration keys → prepareTls options (file paths, so reload works). Without cert/key the
 * caller's defaults (the dev PKI's files) are used; `defaults.caFile` (the dev CA) is the device CA
 * when requireClientCert is set without `ca`.
 */
export function listenerTlsOptions(l: ListenerTlsKeys, defaults: { certFile: string; keyFile: string; caFile?: string }): TlsListenerOptions {
  const ca = l.ca ?? (l.requireClientCert || l.crl ? defaults.caFile : undefined);
  const o: TlsListenerOptions = {
    certFile: l.cert ?? defaults.certFile,
    keyFile: l.key ?? defaults.keyFile,
    // With a device CA, certificates are verified when presented; requireClientCert refuses clients without one.
    clientCert: l.requireClientCert ? 'required' : ca !== undefined ? 'optional' : 'none',
  };
  if (ca !== undefined) o.caFile = ca;
  if (l.crl !== undefined) o.crlFile = l.crl;
  if (l.pskFile !== undefined) o.pskFile = l.pskFile;
  if (l.tlsProfile !== undefined) o.profile = l.tlsProfile;
  if (l.fips !== undefined) o.fips = l.fips;
  if (l.ticketKeyFile !== undefined) o.ticketKeyFile = l.ticketKeyFile;
  if (l.ticketRotationSeconds !== undefined) o.ticketRotationSeconds = l.ticketRotationSeconds;
  if (l.sessionTimeout !== undefined) o.sessionTimeout = l.sessionTimeout;
  if (l.certIdentity !== undefined) o.certIdentity = l.certIdentity;
  if (l.sni) o.sni = Object.fromEntries(Object.entries(l.sni).map(([h, e]) => [h, { certFile: e.cert, keyFile: e.key }]));
  return o;
}
