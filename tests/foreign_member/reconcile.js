// A window's statement against the member's books (docs/protocol.md section 8): the breaks
// found, none meaning an acknowledgement. Statement, StatementEntry and BreakKind are in
// proto/fedmall/v1/settlement.proto.
'use strict';

const DEBIT = 1;
const CREDIT = 2;
const BREAK = { MISSING_AT_NODE: 1, MISSING_AT_CLEARING: 2, AMOUNT_DIFFERS: 3, COUNTERPARTY_DIFFERS: 4,
  DUPLICATE: 5, DIRECTION_DIFFERS: 6, OPENING_POSITION_DIFFERS: 7, STATEMENT_INCONSISTENT: 8,
  OPENING_LIQUIDITY_DIFFERS: 9 };
const SETTLEMENT = 3;

const amountOf = (money) => BigInt((money && money.amount_minor) || 0n);
const signedMovement = (movement) => (movement.direction === CREDIT ? 1n : -1n) * amountOf(movement.amount);

function money(amount, currency) {
  return { amount_minor: amount, currency };
}

function reconcile(pages, books, me) {
  const state = books.state;
  const first = pages[0];
  const windowId = BigInt(first.window_id);
  const entries = pages.flatMap((page) => page.entries || []);
  const movements = pages.flatMap((page) => page.movements || []);
  const breaks = [];

  const ours = Object.entries(state.transfers).filter(([, t]) => t.state === 'COMMITTED' && t.window === windowId);
  const byId = new Map(ours);
  let nodeNet = 0n;
  for (const [, transfer] of ours) nodeNet += transfer.role === 'payee' ? transfer.amount : -transfer.amount;

  const seen = new Set();
  let statementNet = 0n;
  for (const entry of entries) {
    statementNet += (entry.direction === CREDIT ? 1n : -1n) * amountOf(entry.amount);
    const transfer = byId.get(entry.transfer_id);
    if (seen.has(entry.transfer_id)) {
      breaks.push({ kind: BREAK.DUPLICATE, transfer_id: entry.transfer_id, clearing_entry: entry });
      continue;
    }
    seen.add(entry.transfer_id);
    const nodeEntry = transfer && { transfer_id: entry.transfer_id, direction: transfer.role === 'payer' ? DEBIT : CREDIT,
      counterparty_bank_id: transfer.counterparty, amount: money(transfer.amount, state.currency) };
    let kind = null;
    if (!transfer) kind = BREAK.MISSING_AT_NODE;
    else if (nodeEntry.direction !== entry.direction) kind = BREAK.DIRECTION_DIFFERS;
    else if (transfer.amount !== amountOf(entry.amount)) kind = BREAK.AMOUNT_DIFFERS;
    else if (transfer.counterparty !== entry.counterparty_bank_id) kind = BREAK.COUNTERPARTY_DIFFERS;
    if (kind) breaks.push({ kind, transfer_id: entry.transfer_id, clearing_entry: entry, node_entry: nodeEntry });
  }
  for (const [transferId, transfer] of ours) {
    if (!seen.has(transferId)) {
      breaks.push({ kind: BREAK.MISSING_AT_CLEARING, transfer_id: transferId, node_entry: {
        transfer_id: transferId, direction: transfer.role === 'payer' ? DEBIT : CREDIT,
        counterparty_bank_id: transfer.counterparty, amount: money(transfer.amount, state.currency) } });
    }
  }

  // The statement against itself: entries sum to its net; opening - net is its closing position.
  if (statementNet !== amountOf(first.net)) {
    breaks.push({ kind: BREAK.STATEMENT_INCONSISTENT, detail: 'entries do not sum to net' });
  } else if (amountOf(first.opening_position) - amountOf(first.net) !== amountOf(first.closing_position)) {
    breaks.push({ kind: BREAK.STATEMENT_INCONSISTENT, detail: 'opening - net is not the closing position' });
  }

  // Liquidity movements: those booked from the stream for this window, and the statement's.
  const bookedMovements = Object.values(state.movements).filter((m) => BigInt(m.window_id) === windowId);
  const listed = new Map(movements.map((m) => [m.movement_id, m]));
  for (const movement of movements) {
    const booked = state.movements[movement.movement_id];
    if (!booked || signedMovement(booked) !== signedMovement(movement)) {
      breaks.push({ kind: booked ? BREAK.AMOUNT_DIFFERS : BREAK.MISSING_AT_NODE, transfer_id: movement.movement_id,
        clearing_movement: movement, node_movement: booked });
    }
  }
  for (const booked of bookedMovements) {
    if (!listed.has(booked.movement_id)) {
      breaks.push({ kind: BREAK.MISSING_AT_CLEARING, transfer_id: booked.movement_id, node_movement: booked });
    }
  }

  // The chain from the previous statement (the comment on Statement): the first starts at zero.
  const previous = state.lastStatement;
  const settledHere = movements.filter((m) => m.kind === SETTLEMENT).reduce((sum, m) => sum + signedMovement(m), 0n);
  const expectedOpening = previous ? BigInt(previous.closing_position) + settledHere : 0n;
  if (amountOf(first.opening_position) !== expectedOpening) {
    breaks.push({ kind: BREAK.OPENING_POSITION_DIFFERS, clearing_position: first.opening_position,
      node_position: money(expectedOpening, state.currency) });
  }
  const expectedLiquidity = previous ? BigInt(previous.closing_liquidity) : 0n;
  if (amountOf(first.opening_liquidity) !== expectedLiquidity) {
    breaks.push({ kind: BREAK.OPENING_LIQUIDITY_DIFFERS, detail: `books say ${expectedLiquidity}` });
  }
  if (pages.some((page) => page.bank_id !== me || BigInt(page.window_id) !== windowId)) {
    breaks.push({ kind: BREAK.STATEMENT_INCONSISTENT, detail: 'pages of another bank or window' });
  }
  return { windowId, breaks, nodeNet };
}

module.exports = { reconcile };
