// Canonical protobuf bytes for the signed payloads (docs/protocol.md section 3, "Canonical
// bytes"), driven by the descriptors @grpc/proto-loader reads from proto/fedmall/v1/*.proto.
// Encoding writes fields in number order, each once, defaults left out, minimal varints,
// packed repeated scalars. Decoding refuses unknown fields, a non-repeated field twice and
// wrong wire types; `decodeCanonical` also refuses bytes whose re-encoding differs.
'use strict';

const PACKAGE = 'fedmall.v1.';
const VARINT_TYPES = new Set(['TYPE_INT64', 'TYPE_INT32', 'TYPE_UINT64', 'TYPE_UINT32', 'TYPE_BOOL', 'TYPE_ENUM']);

class MalformedPayload extends Error {}

function messageType(definition, name) {
  const full = name.startsWith(PACKAGE) ? name : PACKAGE + name.replace(/^\./, '');
  const entry = definition[full];
  if (!entry || !entry.type || !entry.type.field) throw new Error(`no message ${full} in the contract`);
  return entry.type;
}

function varint(value) {
  let v = BigInt.asUintN(64, BigInt(value));
  const bytes = [];
  while (v >= 0x80n) {
    bytes.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Buffer.from(bytes);
}

function tag(number, wireType) {
  return varint((BigInt(number) << 3n) | BigInt(wireType));
}

function isDefault(field, value) {
  if (value === undefined || value === null) return true;
  if (field.type === 'TYPE_MESSAGE') return false;   // A set sub-message is present, even if empty.
  if (field.type === 'TYPE_STRING') return value === '';
  if (field.type === 'TYPE_BYTES') return value.length === 0;
  if (field.type === 'TYPE_BOOL') return value === false;
  return BigInt(value) === 0n;
}

function scalarBytes(field, value) {
  if (field.type === 'TYPE_BOOL') return varint(value ? 1 : 0);
  return varint(value);
}

function encode(definition, typeName, message) {
  const type = messageType(definition, typeName);
  const parts = [];
  const fields = [...type.field].sort((a, b) => a.number - b.number);
  for (const field of fields) {
    const value = message[field.name];
    const repeated = field.label === 'LABEL_REPEATED';
    const values = repeated ? (value || []) : [value];
    if (repeated && values.length === 0) continue;
    if (repeated && VARINT_TYPES.has(field.type)) {
      const packed = Buffer.concat(values.map((v) => scalarBytes(field, v)));
      parts.push(tag(field.number, 2), varint(packed.length), packed);
      continue;
    }
    for (const item of values) {
      if (!repeated && isDefault(field, item)) continue;
      if (field.type === 'TYPE_MESSAGE') {
        const nested = encode(definition, field.typeName, item);
        parts.push(tag(field.number, 2), varint(nested.length), nested);
      } else if (field.type === 'TYPE_STRING' || field.type === 'TYPE_BYTES') {
        const bytes = field.type === 'TYPE_STRING' ? Buffer.from(item, 'utf8') : Buffer.from(item);
        parts.push(tag(field.number, 2), varint(bytes.length), bytes);
      } else if (VARINT_TYPES.has(field.type)) {
        parts.push(tag(field.number, 0), scalarBytes(field, item));
      } else {
        throw new Error(`field type ${field.type} is not used by signed messages`);
      }
    }
  }
  return Buffer.concat(parts);
}

function readVarint(buffer, offset) {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i += 1) {
    if (offset >= buffer.length) throw new MalformedPayload('truncated varint');
    const byte = buffer[offset];
    offset += 1;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, offset];
    shift += 7n;
  }
  throw new MalformedPayload('varint longer than 10 bytes');
}

function scalarValue(field, raw) {
  if (field.type === 'TYPE_BOOL') return raw !== 0n;
  if (field.type === 'TYPE_INT64') return BigInt.asIntN(64, raw);
  if (field.type === 'TYPE_INT32' || field.type === 'TYPE_ENUM') return Number(BigInt.asIntN(32, raw));
  return raw;
}

function decode(definition, typeName, buffer) {
  const type = messageType(definition, typeName);
  const byNumber = new Map(type.field.map((f) => [f.number, f]));
  const message = {};
  const seen = new Set();
  let offset = 0;
  while (offset < buffer.length) {
    let key;
    [key, offset] = readVarint(buffer, offset);
    const number = Number(key >> 3n);
    const wireType = Number(key & 7n);
    const field = byNumber.get(number);
    if (!field) throw new MalformedPayload(`unknown field ${number} in ${typeName}`);
    const repeated = field.label === 'LABEL_REPEATED';
    if (!repeated && seen.has(number)) throw new MalformedPayload(`field ${field.name} encoded twice`);
    seen.add(number);
    if (wireType === 0 && VARINT_TYPES.has(field.type)) {
      let raw;
      [raw, offset] = readVarint(buffer, offset);
      if (repeated) (message[field.name] = message[field.name] || []).push(scalarValue(field, raw));
      else message[field.name] = scalarValue(field, raw);
      continue;
    }
    if (wireType !== 2) throw new MalformedPayload(`wire type ${wireType} for field ${field.name}`);
    let length;
    [length, offset] = readVarint(buffer, offset);
    const end = offset + Number(length);
    if (end > buffer.length) throw new MalformedPayload(`field ${field.name} runs past the end`);
    const bytes = buffer.subarray(offset, end);
    offset = end;
    let value;
    if (field.type === 'TYPE_MESSAGE') value = decode(definition, field.typeName, bytes);
    else if (field.type === 'TYPE_STRING') {
      try {
        value = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch (error) {
        throw new MalformedPayload(`field ${field.name} is not UTF-8`);
      }
    } else if (field.type === 'TYPE_BYTES') value = Buffer.from(bytes);
    else if (repeated && VARINT_TYPES.has(field.type)) {
      const items = [];
      let at = 0;
      while (at < bytes.length) {
        let raw;
        [raw, at] = readVarint(bytes, at);
        items.push(scalarValue(field, raw));
      }
      message[field.name] = (message[field.name] || []).concat(items);
      continue;
    } else throw new MalformedPayload(`field ${field.name} of ${field.type} is length-delimited`);
    if (repeated) (message[field.name] = message[field.name] || []).push(value);
    else message[field.name] = value;
  }
  return message;
}

// Parse, then re-serialise: bytes that do not come back identical are not canonical.
function decodeCanonical(definition, typeName, buffer) {
  const message = decode(definition, typeName, buffer);
  if (!encode(definition, typeName, message).equals(Buffer.from(buffer))) {
    throw new MalformedPayload(`${typeName} is not in canonical form`);
  }
  return message;
}

// A message from protobuf's JSON form with proto field names (as tests/vectors/*.json hold):
// int64 as strings, bytes as base64, enums by name.
function fromJson(definition, typeName, json) {
  const type = messageType(definition, typeName);
  const message = {};
  for (const field of type.field) {
    if (!(field.name in json)) continue;
    const convert = (value) => {
      if (field.type === 'TYPE_MESSAGE') return fromJson(definition, field.typeName, value);
      if (field.type === 'TYPE_BYTES') return Buffer.from(value, 'base64');
      if (field.type === 'TYPE_INT64' || field.type === 'TYPE_UINT64') return BigInt(value);
      if (field.type === 'TYPE_ENUM' && typeof value === 'string') {
        const values = definition[PACKAGE + field.typeName].type.value;
        return values.find((v) => v.name === value).number;
      }
      return value;
    };
    const value = json[field.name];
    message[field.name] = field.label === 'LABEL_REPEATED' ? value.map(convert) : convert(value);
  }
  return message;
}

module.exports = { encode, decode, decodeCanonical, fromJson, MalformedPayload };
