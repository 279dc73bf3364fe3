// The admission bundle (docs/protocol.md section 4) and party names (section 1).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

// The subset of TOML a bundle's fedmall.toml uses: [sections], key = "string" | integer | boolean.
function parseToml(text) {
  const sections = {};
  let current = sections;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = line.match(/^\[([A-Za-z0-9_.-]+)\]$/);
    if (section) {
      current = sections[section[1]] = sections[section[1]] || {};
      continue;
    }
    const pair = line.match(/^([A-Za-z0-9_-]+)\s*=\s*(.+)$/);
    if (!pair) throw new Error(`fedmall.toml: cannot read line: ${line}`);
    const value = pair[2].replace(/\s+#.*$/, '');
    if (value.startsWith('"')) current[pair[1]] = JSON.parse(value);
    else if (value === 'true' || value === 'false') current[pair[1]] = value === 'true';
    else if (/^-?\d+$/.test(value)) current[pair[1]] = Number(value);
    else throw new Error(`fedmall.toml: unsupported value for ${pair[1]}: ${value}`);
  }
  return sections;
}

function loadBundle(folder) {
  const read = (name) => fs.readFileSync(path.join(folder, name));
  const config = parseToml(read('fedmall.toml').toString('utf8'));
  return {
    config,
    partyId: config.identity.party_id,
    signingKeyId: config.identity.signing_key_id,
    clearingAddress: config.clearing.address,
    clearingKeyId: config.clearing.signing_key_id,
    listenAddress: config.node.listen_address,
    ca: read('ca.pem'),
    certificate: read('tls.crt'),
    tlsKey: read('tls.key'),
    signingKey: crypto.createPrivateKey(read('signing.key')),
    clearingKey: crypto.createPublicKey(read('clearing.pub')),
  };
}

function base32(bytes) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

// "<bank id>.bank.fedmall", the id spelled x--<base32> unless it is a lowercase DNS label without "--".
function bankPartyName(bankId) {
  const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(bankId) && !bankId.includes('--')
    ? bankId : `x--${base32(Buffer.from(bankId, 'utf8'))}`;
  return `${label}.bank.fedmall`;
}

// The first DNS subject alternative name of a PEM certificate.
function firstDnsName(certificatePem) {
  const names = new crypto.X509Certificate(certificatePem).subjectAltName || '';
  const first = names.split(', ').find((name) => name.startsWith('DNS:'));
  return first ? first.slice(4) : null;
}

module.exports = { loadBundle, bankPartyName, firstDnsName };
