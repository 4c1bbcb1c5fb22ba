/**
 * What `moat lab` measures, as data: the measuring side (runner) fills a LabReport, the rendering side
 * (Markdown, JSON, HTML with SVG charts, `moat lab recommend`) only reads one. Every number is measured
 * on the user's machine; a Stat keeps the spread so that the report can show min/median/max.
 */

/** The security modes the lab compares (issue 8). */
export const LAB_MODES = [
  'plain', 'tls12-full', 'tls12-resumed', 'tls13-full', 'tls13-resumed', 'tls13-psk', 'tls12-psk', 'mtls13',
] as const;
export type LabMode = (typeof LAB_MODES)[number];

/** Server key types; absent for plain and PSK modes. */
export const LAB_KEYS = ['ecdsa-p256', 'ed25519', 'rsa-2048'] as const;
export type LabKey = (typeof LAB_KEYS)[number];

/** Repeated measurements of one quantity. */
export interface Stat {
  min: number;
  median: number;
  max: number;
  /** How many measurements. */
  n: number;
}

/** Bytes on the TCP socket (TLS records included), each way. */
export interface Bytes {
  clientToServer: number;
  serverToClient: number;
}

export interface SetupAtRtt {
  /** Simulated round-trip time in ms (the delay proxy adds half each way). */
  rttMs: number;
  /** connect() → CONNACK, ms: TCP's handshake round trip included (the proxy holds the first bytes one RTT). */
  connack: Stat;
  /** connect() → the first PUBACK of a QoS 1 publish sent right after CONNACK, ms. */
  firstPuback: Stat;
}

export interface MessageOverhead {
  payloadBytes: number;
  qos: 0 | 1;
  /** Bytes on the wire for one message (PUBLISH, plus PUBACK for QoS 1), both ways summed. */
  wireBytes: number;
  /** wireBytes − payloadBytes. */
  overheadBytes: number;
  /** overheadBytes / payloadBytes × 100. */
  overheadPercent: number;
}

/** One row of the report: a mode with one server key type (or none). */
export interface ModeResult {
  mode: LabMode;
  /** Server key type; undefined for plain and PSK modes. */
  key?: LabKey;
  /** Negotiated, as the client saw it: 'TLSv1.3', 'TLSv1.2' or undefined (plain). */
  protocol?: string;
  /** Cipher suite (standard name) and key exchange group actually negotiated. */
  cipher?: string;
  group?: string;
  /**
   * Seconds the server announced its session tickets valid for (the ticket lifetime hint: a broker's
   * sessionTimeout), read from the session the client received; undefined when it sent no ticket.
   */
  ticketLifetimeS?: number;
  /** Whether the measured setups were really resumed (resumed modes) — a check, not an assumption. */
  resumed?: boolean;
  /** Round trips before the client could send its first application byte (TCP handshake excluded). */
  roundTrips: number;
  /** Round trips of the TCP handshake (1) — reported apart so the table can show both; the setup times include it. */
  tcpRoundTrips: number;
  /** Connection setup bytes up to and including CONNACK: TLS handshake, session tickets, MQTT. */
  setupBytes: {
    handshake: Bytes;
    /** TLS 1.3 NewSessionTicket (or TLS 1.2 ticket) bytes, server → client; 0 when none. */
    tickets: number;
    /** CONNECT + CONNACK including their TLS record overhead. */
    mqtt: Bytes;
  };
  setup: SetupAtRtt[];
  /** CPU time per connection setup (TLS + CONNECT/CONNACK), microseconds, process CPU. */
  cpu: { clientUs: Stat; serverUs?: Stat };
  /** Broker RSS per idle connection in this mode, bytes (undefined with --url). */
  memoryPerConnection?: Stat;
  overhead: MessageOverhead[];
  /** Bulk throughput of one connection, MB/s (10^6 bytes/s) of payload. */
  throughputMBps?: Stat;
  /** Set when the mode could not be measured (e.g. PSK against a --url broker without PSK); the row says why. */
  skipped?: string;
}

export interface LabEnvironment {
  node: string;
  openssl: string;
  os: string;
  cpuModel: string;
  cpus: number;
  /** MHz of the first CPU as the OS reports it (recommend scales CPU time by it). */
  cpuMHz: number;
  totalMemBytes: number;
  /** Load average at the start (shared machines: the reader judges the noise). */
  loadAverage: number[];
}

export interface LabReport {
  /** Format version of this document. */
  version: 1;
  startedAt: string;
  durationMs: number;
  /** 'built-in' (the lab started its own broker) or the --url given. */
  target: string;
  environment: LabEnvironment;
  /** Repetitions per measurement (setups, CPU batches), and the RTTs simulated. */
  repeat: number;
  rtts: number[];
  quick: boolean;
  results: ModeResult[];
  /** How much work stands behind each figure (absent in reports written before it was added). */
  method?: LabMethod;
}

export interface LabMethod {
  /** Sequential setups per CPU batch (each batch gives one CPU figure; `repeat` batches). */
  cpuBatch: number;
  /** Setups per RTT above 0 (at RTT 0: `repeat`). */
  delayedSetups: number;
  /** Length and number of the bulk throughput runs. */
  throughputMs: number;
  throughputRepeat: number;
  /** Idle connections per memory measurement and how many measurements (built-in broker only). */
  memConnections?: number;
  memRepeat?: number;
  /** Set when memory was measured only for this server key type's rows (and keyless ones): --quick. */
  memKey?: LabKey;
}
