"""fedmall-node status: is the node up, and how is it doing.

The running node answers for itself (uptime, readiness, whether its delivery stream from
the clearing is open) on its /status (fedmall.observability); the rest is read from the
home folder and the database, with the node running or not: the version, the database,
the link to the clearing (its address, the deliveries applied), the backlogs (outbox,
decisions, reconciliations, order events), the newest settlement window seen, the last
minute's throughput and the certificate's expiry. Nothing is written (not even a
migration). Exit 0 when the node runs and is ready, 1 otherwise.
"""
from __future__ import annotations

import time

import sqlalchemy as sa

from fedmall import database, observability, status_view

from node.bank import store as bank_store
from node.bank.transfers import COMMITTED, PENDING
from node.command_output import print_json
from node.config import NodeConfig
from node.market import store as market_store


def run(args, config: NodeConfig) -> None:
    now_ms = time.time_ns() // 1_000_000
    process = status_view.process_facts(config.home)
    document = {"version": observability.version(), "bank_id": config.bank_id, "home": str(config.home),
                "listen_address": config.listen_address, "database": database.shown_url(config.database_url),
                "clearing_address": config.clearing_address, "process": process,
                "stream_connected": process.get("stream_connected") if process["running"] else None,
                "certificate": status_view.certificate_facts(config.home / "tls.crt", now_ms=now_ms)}
    document.update(status_view.database_facts(config.database_url,
                                               lambda connection: _read(connection, now_ms=now_ms)))
    if args.json:
        print_json(document)
    else:
        print(_human(document))
    code = status_view.exit_code(process)
    if code:
        raise SystemExit(code)


def _count(connection: sa.Connection, table: sa.Table, *conditions) -> int:
    return connection.scalar(sa.select(sa.func.count()).select_from(table).where(*conditions))


def _read(connection: sa.Connection, *, now_ms: int) -> dict:
    outgoing, incoming = bank_store.outgoing_transfers, bank_store.incoming_transfers
    since_ms = now_ms - status_view.THROUGHPUT_WINDOW_MS
    backlog, oldest_ms = connection.execute(sa.select(sa.func.count(), sa.func.min(outgoing.c.created_at_unix_ms))
                                            .where(outgoing.c.status == PENDING)).one()
    window_ids = [connection.scalar(sa.select(sa.func.max(table.c.window_id))) for table in (outgoing, incoming)]
    return {
        "deliveries_applied": bank_store.read_cursor(connection),
        "backlogs": {"outbox": backlog, "outbox_oldest_age_s": (now_ms - oldest_ms) // 1000 if oldest_ms else 0,
                     "decisions_unsent": _count(connection, incoming, incoming.c.decision_sent.is_(False)),
                     "reconciliations_unsent": _count(connection, bank_store.reconciliations,
                                                      bank_store.reconciliations.c.sent.is_(False)),
                     "order_events_unsent": _count(connection, market_store.order_events,
                                                   market_store.order_events.c.sent.is_(False))},
        "window_last_seen": max((w for w in window_ids if w is not None), default=None),
        "last_minute": {
            "sent_committed": _count(connection, outgoing, outgoing.c.status == COMMITTED,
                                     outgoing.c.updated_at_unix_ms >= since_ms),
            "received_committed": _count(connection, incoming, incoming.c.status == COMMITTED,
                                         incoming.c.updated_at_unix_ms >= since_ms),
            "sends": _count(connection, outgoing, outgoing.c.created_at_unix_ms >= since_ms)},
    }


def _human(document: dict) -> str:
    process = document["process"]
    link = {True: "delivery stream connected", False: "delivery stream NOT connected", None: "-"}[
        document["stream_connected"]]
    rows = [{"what": "node", "value": f"{document['bank_id']}, version {document['version']}, home "
                                      f"{document['home']}, gRPC on {document['listen_address']}"},
            *status_view.process_rows(process),
            {"what": "database", "value": document["database"] + (
                f": UNREACHABLE ({document['database_error']})" if "database_error" in document else "")},
            {"what": "clearing", "value": f"{document['clearing_address']}, {link}"},
            {"what": "certificate", "value": status_view.certificate_text(document["certificate"])}]
    if "database_error" not in document:
        backlogs, minute = document["backlogs"], document["last_minute"]
        rows += [
            {"what": "deliveries", "value": f"applied up to sequence {document['deliveries_applied']}"},
            {"what": "backlogs", "value": f"outbox {backlogs['outbox']} (oldest {backlogs['outbox_oldest_age_s']} s), "
                                          f"decisions {backlogs['decisions_unsent']}, reconciliations "
                                          f"{backlogs['reconciliations_unsent']}, order events "
                                          f"{backlogs['order_events_unsent']} not yet taken"},
            {"what": "window", "value": f"{document['window_last_seen']} (the newest a transfer here committed in)"
                                        if document["window_last_seen"] is not None else "no transfer committed yet"},
            {"what": "last minute", "value": f"{minute['sends']} sends, {minute['sent_committed']} sent and "
                                             f"{minute['received_committed']} received committed"}]
    return status_view.facts_table(rows)
