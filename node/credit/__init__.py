"""Merchant credit: trade features, the scorecard and policy, lending, loans and their
repayment from sales.

Reads the marketplace's trade (node.market) and books through the bank (node.bank);
neither of them imports this wing. Repayment from sales reaches the bank through the hook
it defines (node.bank.settlement_credits), registered when the server builds the node.
"""
