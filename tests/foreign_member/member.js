#!/usr/bin/env node
// A minimal Fedmall member bank in Node.js, written from docs/protocol.md, the .proto files of
// proto/fedmall/v1/ and tests/vectors/ alone, with @grpc/grpc-js, @grpc/proto-loader and
// node:crypto. It is the foreign bank of tests/acceptance/test_foreign_member.py: it pays a
// Python bank, is paid by one (accepting, or rejecting with a reason), and acknowledges its
// statement so the window settles, over the real clearing and node on loopback mTLS.
//
//   node member.js --bundle DIR --books FILE --accounts xavier=10000,carol=0,dave=0
//
// It reads commands as JSON lines on stdin ({"cmd": "pay", ...}, {"cmd": "close_after_quote",
// "account": ...}, {"cmd": "exit"}) and writes what happens as JSON lines on stdout.
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const readline = require('node:readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const { encode, decodeCanonical } = require('./codec');
const signing = require('./signing');
const { loadBundle, bankPartyName, firstDnsName } = require('./bundle');
const { Books } = require('./books');
const { reconcile } = require('./reconcile');
const { checkVectors } = require('./vectors');
const { followsTextRule } = require('./text');

const PROTO = path.join(__dirname, '..', '..', 'proto');
const definition = protoLoader.loadSync(
  ['fedmall/v1/clearing.proto', 'fedmall/v1/node.proto'],
  { includeDirs: [PROTO], keepCase: true, longs: String, enums: Number, defaults: true, bytes: Buffer },
);
const v1 = grpc.loadPackageDefinition(definition).fedmall.v1;

const RESULT = Object.fromEntries(definition['fedmall.v1.ResultCode'].type.value
  .map((v) => [v.name.replace(/^RESULT_CODE_/, ''), v.number]));
const RESULT_NAME = Object.fromEntries(Object.entries(RESULT).map(([name, number]) => [number, name]));
const KIND_TYPE = { 1: 'fedmall.v1.NoticeBatch', 2: 'fedmall.v1.Statement', 3: 'fedmall.v1.SettlementReport',
  4: 'fedmall.v1.WindowSettled', 5: 'fedmall.v1.WindowAborted', 6: 'fedmall.v1.LiquidityMovement' };
const STATE = { RESERVED: 2, COMMITTED: 3, ABORTED: 4 };
const STATE_NAME = { 1: 'RECEIVED', 2: 'RESERVED', 3: 'COMMITTED', 4: 'ABORTED' };
const ACTIVE = 1;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ACCOUNT_ID = /^[A-Za-z0-9._-]{1,34}$/;
const MAX_MESSAGE = 16777216;   // grpc_message_bytes_max (section 10).

function emit(event) {
  process.stdout.write(`${JSON.stringify(event, (k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + 10_000 }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

function args() {
  const parsed = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) parsed[argv[i].replace(/^--/, '')] = argv[i + 1];
  parsed.accounts = Object.fromEntries((parsed.accounts || '').split(',').filter(Boolean).map((pair) => pair.split('=')));
  return parsed;
}

class Member {
  constructor(bundle, books) {
    this.bundle = bundle;
    this.books = books;
    this.me = bundle.partyId;
    this.credentials = grpc.credentials.createSsl(bundle.ca, bundle.tlsKey, bundle.certificate);
    // Section 1: demand the clearing's party name whatever address is dialled.
    this.clearing = new v1.ClearingService(bundle.clearingAddress, this.credentials, {
      'grpc.ssl_target_name_override': 'clearing.fedmall', 'grpc.default_authority': 'clearing.fedmall',
      'grpc.max_receive_message_length': MAX_MESSAGE });
    this.clearingKeys = new Map([[bundle.clearingKeyId, bundle.clearingKey]]);
    this.registry = new Map();
    this.peers = new Map();
    this.queue = Promise.resolve();
  }

  async start() {
    if (firstDnsName(this.bundle.certificate) !== bankPartyName(this.me)) {
      throw new Error(`tls.crt names ${firstDnsName(this.bundle.certificate)}, not ${bankPartyName(this.me)}`);
    }
    this.limits = (await unary(this.clearing, 'GetLimits', {})).limits;
    await this.refreshRegistry();
    this.books.state.currency = this.currency;
    this.registryTimer = setInterval(() => this.refreshRegistry().catch(() => {}), 10_000);
    await this.refreshRevoked();
    this.revokedTimer = setInterval(() => this.refreshRevoked().catch(() => {}), 2_000);
    const position = await unary(this.clearing, 'GetPosition', {});
    if (BigInt(position.delivery_sequence_acknowledged) > this.books.state.cursor) {
      throw new Error('the stored cursor is below what the clearing saw acknowledged: data was lost');
    }
    await this.serve();
    this.follow();
    emit({ event: 'ready', bank_id: this.me, party_name: bankPartyName(this.me), cursor: this.books.state.cursor });
  }

  async refreshRegistry() {
    const response = await unary(this.clearing, 'ListParticipants', {});
    this.registry = new Map(response.participants.map((p) => [p.bank_id, p]));
    this.currency = this.registry.get(this.me).currency;
  }

  // Section 1: certificates the clearing refuses, by SHA-256 of their DER bytes.
  async refreshRevoked() {
    const response = await unary(this.clearing, 'ListRevokedCertificates', {});
    this.revoked = new Set(response.certificates.map((c) => Buffer.from(c.sha256_fingerprint).toString('hex')));
  }

  // Section 1: PeerService (quotes, GetLimits) with mTLS, for ACTIVE banks only.
  serve() {
    this.server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_MESSAGE });
    this.server.addService(v1.PeerService.service, {
      QuoteTransfers: (call, callback) => this.guarded(call, callback, () => this.quote(call)),
      GetLimits: (call, callback) => this.guarded(call, callback, () => ({ limits: this.limits })),
    });
    const credentials = grpc.ServerCredentials.createSsl(this.bundle.ca,
      [{ private_key: this.bundle.tlsKey, cert_chain: this.bundle.certificate }], true);
    return new Promise((resolve, reject) => {
      this.server.bindAsync(this.bundle.listenAddress, credentials, (error) => (error ? reject(error) : resolve()));
    });
  }

  guarded(call, callback, handler) {
    const certificate = call.getAuthContext().sslPeerCertificate;
    const subject = (certificate && certificate.subject) || {};
    if (certificate && this.revoked.has(crypto.createHash('sha256').update(certificate.raw).digest('hex'))) {
      callback({ code: grpc.status.UNAUTHENTICATED, details: 'certificate revoked' });
      return;
    }
    const participant = this.registry.get(subject.CN);
    if (subject.OU !== 'bank' || !participant || participant.status !== ACTIVE) {
      callback({ code: grpc.status.PERMISSION_DENIED, details: 'not an active member bank' });
      return;
    }
    call.caller = subject.CN;
    try {
      callback(null, handler());
    } catch (error) {
      callback(error.code ? error : { code: grpc.status.INTERNAL, details: String(error.message) });
    }
  }

  fulfilment(payer, transferId, account, amountMinor, currency) {
    return crypto.createHmac('sha256', Buffer.from(this.books.state.fulfilmentSecret, 'hex'))
      .update(JSON.stringify([payer, transferId, account, String(amountMinor), currency])).digest();
  }

  // What the account says about these terms: OK, or the result code refusing them.
  check(transferId, accountId, amount) {
    if (!UUID.test(transferId) || /^0{8}-0{4}-0{4}-0{4}-0{12}$/.test(transferId)) return ['INVALID_FIELD', 'transfer_id'];
    if (!ACCOUNT_ID.test(accountId)) return ['INVALID_FIELD', 'payee_account'];
    if (!amount || amount.currency !== this.currency) return ['CURRENCY_NOT_SUPPORTED', ''];
    const minor = BigInt(amount.amount_minor);
    if (minor <= 0n || minor > BigInt(this.limits.amount_minor_max)) return ['INVALID_AMOUNT', ''];
    const account = this.books.state.accounts[accountId];
    if (!account) return ['ACCOUNT_UNKNOWN', ''];
    if (!account.open) return ['ACCOUNT_CLOSED', ''];
    return ['OK', ''];
  }

  quote(call) {
    const items = call.request.items;
    if (items.length === 0 || items.length > Number(this.limits.quote_items_per_request_max)) {
      throw { code: grpc.status.INVALID_ARGUMENT, details: `1..${this.limits.quote_items_per_request_max} items` };
    }
    const results = items.map((item) => {
      const [result, field] = this.check(item.transfer_id, item.payee_account, item.amount);
      if (result !== 'OK') return { transfer_id: item.transfer_id, result: RESULT[result], field };
      const account = this.books.state.accounts[item.payee_account];
      const secret = this.fulfilment(call.caller, item.transfer_id, item.payee_account, item.amount.amount_minor,
        item.amount.currency);
      if (account.closeAfterQuote) {   // The holder closes it between quote and prepare.
        account.open = false;
        account.closeAfterQuote = false;
        this.books.save();
      }
      emit({ event: 'quoted', transfer_id: item.transfer_id, payer: call.caller, account: item.payee_account });
      return { transfer_id: item.transfer_id, result: RESULT.OK, creditor_name: account.holder,
        condition: crypto.createHash('sha256').update(secret).digest() };
    });
    return { results };
  }

  peer(bankId) {
    const participant = this.registry.get(bankId);
    if (!participant || participant.status !== ACTIVE) throw new Error(`${bankId} is not an active participant`);
    const key = `${bankId}@${participant.node_address}`;
    if (!this.peers.has(key)) {
      const name = bankPartyName(bankId);
      this.peers.set(key, new v1.PeerService(participant.node_address, this.credentials, {
        'grpc.ssl_target_name_override': name, 'grpc.default_authority': name }));
    }
    return this.peers.get(key);
  }

  // A signed submission, sent again unchanged when no answer came (section 5: retries are safe).
  async retried(method, request) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await unary(this.clearing, method, request);
      } catch (error) {
        const transient = [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED];
        if (attempt >= 5 || !transient.includes(error.code)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  signed(payloadType, typeName, message) {
    const envelope = signing.sign(payloadType, encode(definition, typeName, message), this.bundle.signingKeyId,
      this.bundle.signingKey);
    this.books.keep('sent', envelope);
    return envelope;
  }

  // Section 5, as payer: quote at the payee's node, prepare at the clearing.
  async pay({ payee_bank: payeeBank, account, amount_minor: amountMinor, from_account: fromAccount, reference }) {
    const transferId = crypto.randomUUID();
    const amount = { amount_minor: String(amountMinor), currency: this.currency };
    const quoted = (await unary(this.peer(payeeBank), 'QuoteTransfers',
      { items: [{ transfer_id: transferId, payee_account: account, amount }] })).results[0];
    if (quoted.result !== RESULT.OK) {
      emit({ event: 'quote_refused', transfer_id: transferId, result: RESULT_NAME[quoted.result], field: quoted.field });
      return;
    }
    const prepare = { transfer_id: transferId, payer_bank_id: this.me, payee_bank_id: payeeBank, payee_account: account,
      amount: { amount_minor: BigInt(amountMinor), currency: this.currency }, condition: quoted.condition,
      expires_at_unix_ms: BigInt(Date.now() + 30_000), reference: reference || '', uetr: crypto.randomUUID(),
      creditor_name: quoted.creditor_name };
    const envelope = this.signed('fedmall.v1.PrepareBatch', 'PrepareBatch', { prepares: [prepare] });
    this.books.recordOutgoing(prepare, fromAccount);
    this.books.save();   // Money out of the customer's account before the clearing hears of it.
    const response = await this.retried('SubmitPrepares', { envelope });
    const result = response.result === RESULT.OK ? response.results[0] : { result: response.result, state: 0 };
    if (result.result !== RESULT.OK && result.result !== RESULT.EXISTS) {
      this.books.refuseOutgoing(transferId);
      this.books.save();
    }
    emit({ event: 'prepared', transfer_id: transferId, result: RESULT_NAME[result.result],
      state: STATE_NAME[result.state], field: result.field || '' });
  }

  // Section 7: follow the stream from the stored cursor; reconnect after any failure.
  follow() {
    if (this.stopped) return;
    const call = this.clearing.StreamDeliveries({ after_sequence: String(this.books.state.cursor) });
    this.stream = call;
    const again = () => {
      if (this.stream !== call || this.stopped) return;
      this.stream = null;
      setTimeout(() => this.follow(), 500);
    };
    call.on('data', (message) => {
      for (const delivery of message.deliveries) {
        // One at a time, in order; after a refusal nothing more from this stream is applied.
        this.queue = this.queue.then(() => (call.refused ? null : this.apply(delivery))).catch((error) => {
          call.refused = true;
          emit({ event: 'delivery_refused', sequence: delivery.sequence, error: String(error.message || error) });
          call.cancel();
          again();
        });
      }
    });
    call.on('error', again);
    call.on('end', again);
  }

  async apply(delivery) {
    const sequence = BigInt(delivery.sequence);
    if (sequence <= this.books.state.cursor) return;   // At least once: seen already.
    if (sequence !== this.books.state.cursor + 1n) throw new Error(`gap: ${sequence} after ${this.books.state.cursor}`);
    const known = KIND_TYPE[delivery.kind];
    const verified = signing.verify(delivery.envelope, { definition, expectedType: known || delivery.envelope.payload_type,
      keys: this.clearingKeys, expectedParty: 'clearing', limits: this.limits, parse: Boolean(known) });
    if (verified.refused) throw new Error(`${verified.refused} ${verified.detail || ''}`.trim());
    this.books.keep('received', delivery.envelope);
    const message = verified.message;
    if (delivery.kind === 1) await this.notices(message);
    else if (delivery.kind === 2) await this.statementPage(message, delivery.envelope.payload);
    else if (delivery.kind === 3) emit({ event: 'report', window_id: message.window_id });
    else if (delivery.kind === 4) {
      this.books.state.settled[String(message.window_id)] = message.net ? message.net.amount_minor || 0n : 0n;
      emit({ event: 'window_settled', window_id: message.window_id, net: message.net ? message.net.amount_minor || 0n : 0n });
    } else if (delivery.kind === 5) {
      for (const transfer of Object.values(this.books.state.transfers)) {
        if (transfer.window === BigInt(message.window_id)) transfer.window = BigInt(message.moved_to_window_id);
      }
    } else if (delivery.kind === 6) {
      this.books.state.movements[message.movement_id] = message;
      emit({ event: 'liquidity', movement_id: message.movement_id, amount: message.amount.amount_minor });
    } else emit({ event: 'kept_unknown_kind', kind: delivery.kind, sequence });
    this.books.state.cursor = sequence;
    this.books.save();   // The effect and the cursor, together.
  }

  async notices(batch) {
    if (batch.recipient_bank_id !== this.me) throw new Error('MALFORMED_PAYLOAD: a notice batch for another bank');
    const notices = batch.notices || [];
    if (notices.length > Number(this.limits.notices_per_delivery_max)) throw new Error('BATCH_TOO_LARGE');
    const texts = (n) => [[n.prepare.reference, this.limits.reference_length_max],
      [n.payee_reason, this.limits.reject_reason_length_max], [n.prepare.debtor_name, this.limits.party_name_length_max],
      [n.prepare.creditor_name, this.limits.party_name_length_max]];
    if (notices.some((n) => texts(n).some(([text, max]) => !followsTextRule(text, Number(max))))) {
      throw new Error('MALFORMED_PAYLOAD: a notice text breaks the text rule');
    }
    const accepts = [];
    const rejects = [];
    for (const notice of notices) {
      const prepare = notice.prepare;
      const state = notice.state || 0;
      emit({ event: 'notice', transfer_id: prepare.transfer_id, state: STATE_NAME[state] });
      if (state === STATE.RESERVED && prepare.payee_bank_id === this.me) {
        const decision = this.decide(prepare);
        (decision.fulfilment ? accepts : rejects).push(decision);
      } else if (state === STATE.COMMITTED || state === STATE.ABORTED) {
        if (this.books.applyFinal(notice, this.me)) {
          emit({ event: 'final', transfer_id: prepare.transfer_id, state: STATE_NAME[state],
            role: prepare.payer_bank_id === this.me ? 'payer' : 'payee', result: RESULT_NAME[notice.result || 0],
            payee_reason_code: RESULT_NAME[notice.payee_reason_code || 0], payee_reason: notice.payee_reason || '',
            window_id: notice.settlement_window_id || 0n,
            fulfilment_matches: state === STATE.COMMITTED
              && crypto.createHash('sha256').update(notice.fulfilment || Buffer.alloc(0)).digest().equals(prepare.condition) });
        }
      }
    }
    if (accepts.length + rejects.length > 0) await this.submitDecisions(accepts, rejects);
  }

  // Section 5 step 3: the terms against what was quoted, and the account as it is now.
  decide(prepare) {
    const transferId = prepare.transfer_id;
    const [result] = this.check(transferId, prepare.payee_account, prepare.amount);
    if (result !== 'OK') {
      const words = { ACCOUNT_CLOSED: 'closed by its holder', ACCOUNT_UNKNOWN: 'no such account' }[result] || result;
      return { transfer_id: transferId, reason_code: RESULT[result], reason: words };
    }
    const fulfilment = this.fulfilment(prepare.payer_bank_id, transferId, prepare.payee_account,
      prepare.amount.amount_minor, prepare.amount.currency);
    if (!crypto.createHash('sha256').update(fulfilment).digest().equals(Buffer.from(prepare.condition || []))) {
      return { transfer_id: transferId, reason_code: RESULT.CONDITION_MISMATCH, reason: 'not quoted here' };
    }
    return { transfer_id: transferId, fulfilment };
  }

  async submitDecisions(accepts, rejects) {
    const envelope = this.signed('fedmall.v1.DecisionBatch', 'DecisionBatch', { accepts, rejects });
    const response = await this.retried('SubmitDecisions', { envelope });
    if (response.result !== RESULT.OK) throw new Error(`decisions refused: ${RESULT_NAME[response.result]}`);
    [...accepts, ...rejects].forEach((decision, i) => {
      const result = response.results[i];
      emit({ event: 'decided', transfer_id: decision.transfer_id, decision: decision.fulfilment ? 'accept' : 'reject',
        result: RESULT_NAME[result.result], state: STATE_NAME[result.state] });
    });
  }

  // Section 8: keep pages; with all of them, hash, reconcile and answer.
  async statementPage(page, payload) {
    const windowKey = String(page.window_id);
    const pages = this.books.state.statementPages[windowKey] = this.books.state.statementPages[windowKey] || {};
    pages[page.page_index || 0] = Buffer.from(payload).toString('hex');
    const count = page.page_count || 0;
    if (Object.keys(pages).length < count || this.books.state.reconciled[windowKey]) return;
    const payloads = [...Array(count).keys()].map((i) => Buffer.from(pages[i], 'hex'));
    const decoded = payloads.map((bytes) => decodeCanonical(definition, 'Statement', bytes));
    const statementSha256 = signing.statementSha256(payloads);
    const { windowId, breaks, nodeNet } = reconcile(decoded, this.books, this.me);
    emit({ event: 'statement', window_id: windowId, pages: count, statement_sha256: statementSha256.toString('hex'),
      breaks: breaks.length, node_net: nodeNet, entries: decoded.flatMap((page) => page.entries || []).length,
      movements: decoded.flatMap((page) => (page.movements || []).map((m) => m.movement_id)) });
    const envelope = this.signed('fedmall.v1.Reconciliation', 'Reconciliation', { window_id: windowId, bank_id: this.me,
      statement_sha256: statementSha256, breaks, node_net: { amount_minor: nodeNet, currency: this.currency } });
    const response = await this.retried('SubmitReconciliation', { envelope });
    if (response.result !== RESULT.OK && response.result !== RESULT.EXISTS) {
      throw new Error(`reconciliation refused: ${RESULT_NAME[response.result]} ${response.field}`);
    }
    this.books.state.reconciled[windowKey] = RESULT_NAME[response.result];
    this.books.state.lastStatement = { closing_position: BigInt(decoded[0].closing_position?.amount_minor || 0n),
      closing_liquidity: BigInt(decoded[0].closing_liquidity?.amount_minor || 0n) };
    emit({ event: 'reconciled', window_id: windowId, result: RESULT_NAME[response.result], breaks: breaks.length });
  }

  stop() {
    this.stopped = true;
    clearInterval(this.registryTimer);
    clearInterval(this.revokedTimer);
    if (this.stream) this.stream.cancel();
    this.server.forceShutdown();
    this.clearing.close();
    for (const client of this.peers.values()) client.close();
  }
}

async function main() {
  const options = args();
  const bundle = loadBundle(options.bundle);
  checkVectors(definition);
  const books = Books.open(options.books, options.accounts);
  const member = new Member(bundle, books);
  await member.start();
  const commands = readline.createInterface({ input: process.stdin });
  for await (const line of commands) {
    if (!line.trim()) continue;
    const command = JSON.parse(line);
    try {
      if (command.cmd === 'pay') await member.pay(command);
      else if (command.cmd === 'close_after_quote') {
        books.state.accounts[command.account].closeAfterQuote = true;
        books.save();
        emit({ event: 'done', cmd: command.cmd });
      } else if (command.cmd === 'balances') {
        emit({ event: 'balances', accounts: Object.fromEntries(Object.entries(books.state.accounts)
          .map(([id, account]) => [id, account.balance])), owed_to_clearing: books.state.owedToClearing });
      } else if (command.cmd === 'exit') break;
      else emit({ event: 'error', error: `unknown command ${command.cmd}` });
    } catch (error) {
      emit({ event: 'error', cmd: command.cmd, error: String(error.details || error.message || error) });
    }
  }
  member.stop();
}

main().catch((error) => {
  emit({ event: 'fatal', error: String(error.stack || error) });
  process.exit(1);
});
