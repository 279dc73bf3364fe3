"""What each other member bank may ask of this node's peer services (fedmall.budgets does the
metering): requests, request bytes and calls in flight, and a tighter budget for quotes.

A quote tells the caller whether an account exists here, so a member could enumerate this bank's
customers by quoting made-up accounts. Quotes pay from two more buckets per caller: quote items
(each item asked, paid before the call) and quote misses (each item answered with a refusal,
paid after the call, even into debt: a call needs one miss token left to start). A payer quotes
the accounts its customers name, so misses are rare in honest traffic and a prober is held to
quote_misses_per_s. Defaults and why: node.limits.

    [budget]  requests_per_s = 200, requests_burst = 400
              request_bytes_per_s = 1048576, request_bytes_burst = 2097152 (at least 1048576)
              calls_in_flight_max = 8
              quote_items_per_s = 1000, quote_items_burst = 2000 (at least one full quote)
              quote_misses_per_s = 20, quote_misses_burst = 200
"""
from __future__ import annotations

from fedmall import budgets
from fedmall import limits as protocol
from fedmall.config_file import TomlFile
from fedmall.pki import Identity
from fedmall.v1 import node_pb2, result_pb2

from node import limits

QUOTE_METHOD = f"/{node_pb2.DESCRIPTOR.services_by_name['PeerService'].full_name}/QuoteTransfers"
KEYS = frozenset({"requests_per_s", "requests_burst", "request_bytes_per_s", "request_bytes_burst",
                  "calls_in_flight_max", "quote_items_per_s", "quote_items_burst", "quote_misses_per_s",
                  "quote_misses_burst"})
CALLS_IN_FLIGHT_MAX_MAX = 1_000


def quote_items(request: node_pb2.QuoteTransfersRequest) -> int:
    return len(request.items)


def quote_misses(response: node_pb2.QuoteTransfersResponse) -> int:
    return sum(1 for result in response.results if result.result != result_pb2.RESULT_CODE_OK)


def peer_budget(*, requests: budgets.Rate, request_bytes: budgets.Rate, calls_in_flight_max: int,
                quote_items_rate: budgets.Rate, quote_misses_rate: budgets.Rate) -> budgets.Budget:
    return budgets.Budget(requests=requests, request_bytes=request_bytes, calls_in_flight_max=calls_in_flight_max,
                          methods=(
        budgets.MethodBudget(method=QUOTE_METHOD, name="quote items", rate=quote_items_rate,
                             cost_of_request=quote_items),
        budgets.MethodBudget(method=QUOTE_METHOD, name="quote misses", rate=quote_misses_rate,
                             cost_of_response=quote_misses)))


DEFAULT_BUDGET = peer_budget(
    requests=budgets.Rate(per_s=limits.budget_requests_per_s_default, burst=limits.budget_requests_burst_default),
    request_bytes=budgets.Rate(per_s=limits.budget_request_bytes_per_s_default,
                               burst=limits.budget_request_bytes_burst_default),
    calls_in_flight_max=limits.budget_calls_in_flight_max_default,
    quote_items_rate=budgets.Rate(per_s=limits.budget_quote_items_per_s_default,
                                  burst=limits.budget_quote_items_burst_default),
    quote_misses_rate=budgets.Rate(per_s=limits.budget_quote_misses_per_s_default,
                                   burst=limits.budget_quote_misses_burst_default))


def read_budget(file: TomlFile) -> budgets.Budget:
    """[budget] of the node's fedmall.toml, each key defaulting to DEFAULT_BUDGET's."""
    section = budgets.budget_section(file)
    quotes, misses = DEFAULT_BUDGET.methods
    return peer_budget(
        requests=budgets.read_rate(section, "requests", default=DEFAULT_BUDGET.requests),
        request_bytes=budgets.read_rate(section, "request_bytes", default=DEFAULT_BUDGET.request_bytes,
                                        burst_min=limits.peer_request_bytes_max),
        calls_in_flight_max=section.integer("calls_in_flight_max", default=DEFAULT_BUDGET.calls_in_flight_max,
                                            low=1, high=CALLS_IN_FLIGHT_MAX_MAX),
        quote_items_rate=budgets.read_rate(section, "quote_items", default=quotes.rate,
                                           burst_min=protocol.quote_items_per_request_max),
        quote_misses_rate=budgets.read_rate(section, "quote_misses", default=misses.rate))


def not_metered(bank_id: str):
    """This bank's own certificate (its command line, its own marketplace calls) is not metered."""
    def exempt(identity: Identity | None) -> bool:
        return identity is not None and identity.role == "bank" and identity.party_id == bank_id
    return exempt
