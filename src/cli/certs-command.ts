/** `moat certs init|issue`: the development PKI (the CA the broker's first start would make) and device certificates. */
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { MoatError } from '../codec/index.js';
import { DEFAULT_DEVICE_ID, DEVICE_DAYS, initDevPki, issueDeviceCert, parseKeyType } from '../security/dev-pki.js';
import type { Io } from './broker-command.js';
import { writeClientProfile } from './client-args.js';

export const CERTS_HELP = `moat certs — the development PKI

Usage:
  moat certs init [--dir DIR] [--key-type TYPE] [--device ID] [--force]
  moat certs issue --device ID [--dir DIR] [--key-type TYPE] [--days N] [--force]

init   creates DIR/pki: a CA, a server certificate for localhost, 127.0.0.1, ::1 and this host's
       name, one device certificate (default id ${DEFAULT_DEVICE_ID}), and the client profile
       DIR/client.json that moat pub/sub use when run in this folder
issue  issues a device (client) certificate signed by the dev CA: CN = ID, extended key usage
       clientAuth, files DIR/pki/devices/ID.crt and ID.key (0600)

Options:
  --dir DIR          the Moat directory, as moat broker --data-dir (default $MOAT_DATA_DIR or ./.moat)
  --key-type TYPE    ecdsa (P-256, default), ed25519 or rsa (2048 bits)
  --device ID        device id: letters, digits and . _ @ + - (init: the profile's device)
  --days N           validity of the device certificate (default ${DEVICE_DAYS})
  --force            replace an existing PKI (init) or device certificate (issue)
  -h, --help         this help
`;

const shown = (p: string): string => relative('.', p) || p;

export async function certsCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.out(CERTS_HELP);
    return 0;
  }
  if (sub !== 'init' && sub !== 'issue') throw new MoatError('MOAT_ERR_CONFIG', `unknown certs command "${sub}" (init or issue)`);
  const { values: v } = parseArgs({
    args: rest, allowPositionals: false, strict: true,
    options: {
      dir: { type: 'string' }, 'key-type': { type: 'string' }, device: { type: 'string' }, days: { type: 'string' },
      force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    io.out(CERTS_HELP);
    return 0;
  }
  const dataDir = v.dir ?? io.env['MOAT_DATA_DIR'] ?? './.moat';
  const pkiDir = join(dataDir, 'pki');
  const keyType = v['key-type'] === undefined ? undefined : parseKeyType(v['key-type']);
  const force = v.force ?? false;
  if (sub === 'init') {
    if (v.days !== undefined) throw new MoatError('MOAT_ERR_CONFIG', '--days is for moat certs issue');
    const pki = await initDevPki(pkiDir, { ...(keyType ? { keyType } : {}), ...(v.device !== undefined ? { deviceId: v.device } : {}), force });
    const device = pki.device!;
    const profile = await writeClientProfile(dataDir, { ca: pki.caCertPath, cert: device.certPath, key: device.keyPath }, true);
    io.out([
      `created a development PKI (${keyType ?? 'ecdsa'}) in ${shown(pki.dir)}`,
      `  CA              ${shown(pki.caCertPath)}  (key ${shown(pki.caKeyPath)})`,
      `  server          ${shown(pki.serverCertPath)}  (key ${shown(pki.serverKeyPath)})`,
      `  device          ${shown(device.certPath)}  (CN ${device.id}, key ${shown(device.keyPath)})`,
      `  client profile  ${shown(profile.path)}  (moat pub/sub in this folder use it)`,
      '',
    ].join('\n'));
    return 0;
  }
  if (v.device === undefined) throw new MoatError('MOAT_ERR_CONFIG', 'moat certs issue needs --device ID');
  // Range and CA lifetime are checked by the PKI (MOAT_ERR_PKI); here only that it is a number.
  const days = v.days === undefined ? undefined : /^\d+$/.test(v.days) ? Number(v.days) : Number.NaN;
  const device = await issueDeviceCert(pkiDir, v.device, { ...(keyType ? { keyType } : {}), ...(days !== undefined ? { days } : {}), force });
  io.out([
    `issued a certificate for device "${device.id}" (${keyType ?? 'ecdsa'}, ${days ?? DEVICE_DAYS} days)`,
    `  certificate  ${shown(device.certPath)}`,
    `  key          ${shown(device.keyPath)}  (0600)`,
    `e.g. mosquitto_sub -h localhost -p 8883 --cafile ${shown(join(pkiDir, 'ca.crt'))} --cert ${shown(device.certPath)} --key ${shown(device.keyPath)} -t '#'`,
    '',
  ].join('\n'));
  return 0;
}
