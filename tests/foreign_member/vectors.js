// Checks this member's codec and crypto against tests/vectors/*.json before it trusts them
// with money (docs/protocol.md section 13). Throws on the first disagreement.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { encode, fromJson, decodeCanonical, MalformedPayload } = require('./codec');
const signing = require('./signing');

const VECTORS = path.join(__dirname, '..', 'vectors');
const hex = (text) => Buffer.from(text, 'hex');
const load = (name) => JSON.parse(fs.readFileSync(path.join(VECTORS, name), 'utf8'));

function checkVectors(definition) {
  for (const item of load('pae.json').cases) {
    assert.deepEqual(signing.pae(item.payload_type, hex(item.payload_hex)), hex(item.pae_hex), 'pae.json');
  }

  const envelope = load('envelope.json');
  const key = signing.privateKeyFromSeed(hex(envelope.private_key_seed_hex));
  const payload = encode(definition, envelope.payload_type, fromJson(definition, envelope.payload_type, envelope.payload_json));
  assert.deepEqual(payload, hex(envelope.payload_hex), 'envelope.json: canonical payload');
  assert.deepEqual(signing.pae(envelope.payload_type, payload), hex(envelope.pae_hex), 'envelope.json: PAE');
  const signed = signing.sign(envelope.payload_type, payload, envelope.key_id, key);
  assert.deepEqual(signed.signature, hex(envelope.signature_hex), 'envelope.json: signature');
  assert.deepEqual(encode(definition, 'Envelope', signed), hex(envelope.envelope_hex), 'envelope.json: envelope');
  for (const refused of envelope.refused) {
    assert.throws(() => decodeCanonical(definition, envelope.payload_type, hex(refused.payload_hex)),
      MalformedPayload, `envelope.json refused: ${refused.why}`);
  }

  const statement = load('statement.json');
  const clearingKey = signing.publicKeyFromRaw(hex(statement.clearing_public_key_hex));
  const payloads = statement.pages.map((page) => {
    const bytes = hex(page.payload_hex);
    assert.deepEqual(encode(definition, 'Statement', fromJson(definition, 'Statement', page.payload_json)), bytes,
      'statement.json: page payload');
    assert.ok(crypto.verify(null, signing.pae('fedmall.v1.Statement', bytes), clearingKey, hex(page.signature_hex)),
      'statement.json: page signature');
    return bytes;
  });
  assert.deepEqual(signing.statementSha256(payloads), hex(statement.statement_sha256_hex), 'statement.json: hash');

  const fulfilment = load('fulfilment.json');
  assert.deepEqual(crypto.createHash('sha256').update(hex(fulfilment.fulfilment_hex)).digest(),
    hex(fulfilment.condition_hex), 'fulfilment.json');
}

module.exports = { checkVectors };
