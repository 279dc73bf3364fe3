"""The marketplace: merchants, the catalogue and federated search, orders at the buyer's
and the seller's bank, and the order events between them.

Uses the bank's money (node.bank: accounts, ledger, transfers), never node.credit.
"""
