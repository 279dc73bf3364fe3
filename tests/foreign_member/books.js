// The member's books: customer accounts, its transfers, liquidity movements, statements and
// the stream cursor, in one JSON file replaced atomically (write, fsync, rename), so each
// delivery's effect and its sequence are stored together (docs/protocol.md section 7).
// Money is BigInt minor units throughout.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const BIG = /^-?\d+n$/;

class Books {
  constructor(file, state) {
    this.file = file;
    this.state = state;
  }

  static open(file, accounts) {
    if (fs.existsSync(file)) {
      const state = JSON.parse(fs.readFileSync(file, 'utf8'), (key, value) =>
        (typeof value === 'string' && BIG.test(value) ? BigInt(value.slice(0, -1)) : value));
      return new Books(file, state);
    }
    const state = {
      cursor: 0n,
      currency: null,   // The bank's own, from ListParticipants (the bundle does not say).
      fulfilmentSecret: crypto.randomBytes(32).toString('hex'),
      accounts: {},
      transfers: {},
      movements: {},
      statementPages: {},
      reconciled: {},
      settled: {},
      lastStatement: null,
      evidence: [],
      owedToClearing: 0n,
    };
    for (const [accountId, balance] of Object.entries(accounts)) {
      state.accounts[accountId] = { holder: accountId[0].toUpperCase() + accountId.slice(1), balance: BigInt(balance),
        open: true, closeAfterQuote: false };
    }
    const books = new Books(file, state);
    books.save();
    return books;
  }

  save() {
    const text = JSON.stringify(this.state, (key, value) => (typeof value === 'bigint' ? `${value}n` : value));
    const temporary = `${this.file}.tmp`;
    const handle = fs.openSync(temporary, 'w');
    fs.writeSync(handle, text);
    fs.fsyncSync(handle);
    fs.closeSync(handle);
    fs.renameSync(temporary, this.file);
  }

  // A signed envelope sent or received, kept as evidence (docs/protocol.md section 3).
  keep(direction, envelope) {
    this.state.evidence.push({ direction, payload_type: envelope.payload_type, key_id: envelope.key_id,
      payload: Buffer.from(envelope.payload).toString('hex'), signature: Buffer.from(envelope.signature).toString('hex') });
  }

  // Payer side: the customer's money moves to "owed to clearing" as the transfer is recorded.
  recordOutgoing(prepare, fromAccount) {
    const account = this.state.accounts[fromAccount];
    const amount = prepare.amount.amount_minor;
    if (!account || !account.open) throw new Error(`no open account ${fromAccount}`);
    if (account.balance < amount) throw new Error(`insufficient funds in ${fromAccount}`);
    account.balance -= amount;
    this.state.owedToClearing += amount;
    this.state.transfers[prepare.transfer_id] = { role: 'payer', account: fromAccount, amount,
      counterparty: prepare.payee_bank_id, state: 'PREPARING', window: 0n };
  }

  // Payer side: the clearing refused the prepare; the money goes back.
  refuseOutgoing(transferId) {
    const transfer = this.state.transfers[transferId];
    this.state.accounts[transfer.account].balance += transfer.amount;
    this.state.owedToClearing -= transfer.amount;
    transfer.state = 'REFUSED';
  }

  // A COMMITTED or ABORTED notice, applied once whatever the number of times it arrives.
  applyFinal(notice, me) {
    const prepare = notice.prepare;
    const payer = prepare.payer_bank_id === me;
    let transfer = this.state.transfers[prepare.transfer_id];
    if (!transfer) {
      transfer = this.state.transfers[prepare.transfer_id] = { role: payer ? 'payer' : 'payee',
        account: payer ? null : prepare.payee_account, amount: prepare.amount.amount_minor,
        counterparty: payer ? prepare.payee_bank_id : prepare.payer_bank_id, state: 'RESERVED', window: 0n };
    }
    if (transfer.state === 'COMMITTED' || transfer.state === 'ABORTED') return false;
    const committed = notice.state === 3;
    if (transfer.role === 'payer') {
      this.state.owedToClearing -= transfer.amount;
      if (!committed) this.state.accounts[transfer.account].balance += transfer.amount;
    } else if (committed) {
      this.state.accounts[transfer.account].balance += transfer.amount;
    }
    transfer.state = committed ? 'COMMITTED' : 'ABORTED';
    transfer.window = committed ? BigInt(notice.settlement_window_id || 0n) : 0n;
    return true;
  }
}

module.exports = { Books };
