// Signed envelopes (docs/protocol.md section 3): PAE, Ed25519 over it, verification in the
// order the document gives, and the statement hash.
'use strict';

const crypto = require('node:crypto');
const { decodeCanonical, MalformedPayload } = require('./codec');

function pae(payloadType, payload) {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'ascii'), type,
    Buffer.from(` ${payload.length} `, 'ascii'), Buffer.from(payload),
  ]);
}

function sign(payloadType, payload, keyId, privateKey) {
  return {
    payload_type: payloadType,
    payload,
    key_id: keyId,
    signature: crypto.sign(null, pae(payloadType, payload), privateKey),
  };
}

// A result code name for the first check that fails, or the parsed payload.
function verify(envelope, { definition, expectedType, keys, expectedParty, limits, parse = true }) {
  const payload = Buffer.from(envelope.payload);
  const signature = Buffer.from(envelope.signature);
  if (payload.length + signature.length + Buffer.byteLength(envelope.key_id) > Number(limits.envelope_bytes_max)) {
    return { refused: 'ENVELOPE_TOO_LARGE' };
  }
  if (envelope.payload_type !== expectedType) return { refused: 'MALFORMED_PAYLOAD' };
  const key = keys.get(envelope.key_id);
  if ([...envelope.key_id].length > Number(limits.key_id_length_max) || !key) return { refused: 'UNKNOWN_KEY' };
  if (envelope.key_id.split('/')[0] !== expectedParty) return { refused: 'SIGNER_NOT_PEER' };
  if (!crypto.verify(null, pae(envelope.payload_type, payload), key, signature)) {
    return { refused: 'INVALID_SIGNATURE' };
  }
  if (!parse) return { message: null };   // A kind this member does not know: kept, not read.
  try {
    return { message: decodeCanonical(definition, expectedType, payload) };
  } catch (error) {
    if (error instanceof MalformedPayload) return { refused: 'MALFORMED_PAYLOAD', detail: error.message };
    throw error;
  }
}

// SHA-256 over the pages' payload bytes, concatenated in page order, as received.
function statementSha256(pagePayloads) {
  const hash = crypto.createHash('sha256');
  for (const payload of pagePayloads) hash.update(payload);
  return hash.digest();
}

// An Ed25519 key object from a raw 32-byte public key (as ListParticipants gives keys).
function publicKeyFromRaw(raw) {
  const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');
  return crypto.createPublicKey({ key: Buffer.concat([spkiPrefix, Buffer.from(raw)]), format: 'der', type: 'spki' });
}

function privateKeyFromSeed(seed) {
  const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  return crypto.createPrivateKey({ key: Buffer.concat([pkcs8Prefix, Buffer.from(seed)]), format: 'der', type: 'pkcs8' });
}

module.exports = { pae, sign, verify, statementSha256, publicKeyFromRaw, privateKeyFromSeed };
