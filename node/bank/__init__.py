"""The bank's money: accounts, the ledger, interbank transfers and settlement.

Imports the node's shared modules (node.config, node.limits, node.errors, ...) and
nothing of node.market or node.credit: what another wing must do when money arrives is
handed in through node.bank.settlement_credits.
"""
