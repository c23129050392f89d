/** Test certificates made with openssl at test time: a CA, etcd's server certificate, a client certificate, and an unrelated CA. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** File paths. */
  readonly files: {
    ca: string;
    serverCert: string;
    serverKey: string;
    clientCert: string;
    clientKey: string;
    otherCa: string;
  };
  /** PEM contents. */
  readonly pem: { ca: string; clientCert: string; clientKey: string; otherCa: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** A new P-256 key, unencrypted: what every certificate here is made with. */
const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function selfSignedCa(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      ...NEW_EC_KEY,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
}

function signed(dir: string, name: string, cn: string, ext: string): void {
  openssl(['req', ...NEW_EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
}

/** Makes a fresh PKI in a temp dir. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'registrar-pki-'));
  selfSignedCa(dir, 'ca');
  selfSignedCa(dir, 'other-ca');
  signed(dir, 'server', 'etcd', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  signed(dir, 'client', 'registrar', 'extendedKeyUsage=clientAuth\n');
  const files = {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    otherCa: join(dir, 'other-ca.pem'),
  };
  const read = (f: string) => readFileSync(f, 'utf8');
  return {
    dir,
    files,
    pem: {
      ca: read(files.ca),
      clientCert: read(files.clientCert),
      clientKey: read(files.clientKey),
      otherCa: read(files.otherCa),
    },
  };
}
