"""Thin gRPC servicers of the marketplace: proto -> domain -> proto.

The only place marketplace exceptions become result codes. MarketplaceService is the
bank's own channels (the caller must hold this bank's certificate); the request names
the merchant or buyer acting and the services check what it owns.
MarketplacePeerService is other member banks: the caller is the bank in its certificate.
"""
from __future__ import annotations

import logging
import grpc

from fedmall.results import FedmallError, name_of
from fedmall.tls import peer_identity
from fedmall.v1 import marketplace_pb2, marketplace_pb2_grpc, money_pb2, result_pb2

from node import limits
from node.answers import answers_errors, own_bank_only
from node.errors import InvalidRequest
from fedmall import categories
from node.market import catalogue as search_rules, merchants as merchant_rules, order_events
from node.market.buyer_orders import BuyerOrderService, CartLine
from node.market.catalogue import CatalogueService, SearchPage
from node.market.merchants import MerchantService, ProductView
from node.market.product_import import ProductImport
from node.market.product_rows import ProductRow
from node.market.order_lists import OrderFilter, OrderLists
from node.market.reviews import ReviewService
from node.market.orders import Item, OrderView
from node.market.seller_orders import PlaceOrder, SellerOrderService

log = logging.getLogger(__name__)

OK = result_pb2.RESULT_CODE_OK

_STATUS = {marketplace_pb2.MERCHANT_STATUS_ACTIVE: merchant_rules.ACTIVE,
           marketplace_pb2.MERCHANT_STATUS_SUSPENDED: merchant_rules.SUSPENDED}


def _money(amount_minor: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=currency)


_PRODUCT_STATUS = {marketplace_pb2.PRODUCT_STATUS_DRAFT: "DRAFT", marketplace_pb2.PRODUCT_STATUS_LISTED: "LISTED",
                   marketplace_pb2.PRODUCT_STATUS_DELISTED: "DELISTED"}
_PRODUCT_STATUS_VALUE = {name: value for value, name in _PRODUCT_STATUS.items()}


def product_to_proto(product: ProductView) -> marketplace_pb2.Product:
    """One product row of every answer (search, a merchant's list): add a field here."""
    return marketplace_pb2.Product(
        bank_id=product.bank_id, merchant_id=product.merchant_id, merchant_name=product.merchant_name,
        sku=product.sku, title=product.title, description=product.description,
        price=_money(product.price_minor, product.currency), stock_available=product.stock_available,
        product_id=product.product_id, size=product.size, colour=product.colour, category_id=product.category_id,
        status=_PRODUCT_STATUS_VALUE.get(product.status, marketplace_pb2.PRODUCT_STATUS_UNSPECIFIED),
        attributes=dict(product.attributes), image_refs=list(product.image_refs),
        created_at_unix_ms=product.created_at_unix_ms, rating_count=product.rating_count,
        rating_average_centi=product.rating_average_centi)


def product_status(status: int) -> str:
    name = _PRODUCT_STATUS.get(status)
    if name is None:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "status must be DRAFT, LISTED or DELISTED")
    return name


def row_from_proto(request: marketplace_pb2.UpsertProductRequest) -> ProductRow:
    """A merchant's product as the service takes it; empty category and unset status: None."""
    return ProductRow(
        sku=request.sku, title=request.title, description=request.description,
        price_minor=request.price.amount_minor, currency=request.price.currency, stock=request.stock,
        product_id=request.product_id, size=request.size, colour=request.colour,
        category_id=request.category_id or None,
        status=None if request.status == marketplace_pb2.PRODUCT_STATUS_UNSPECIFIED else product_status(request.status),
        attributes=tuple(sorted(request.attributes.items())), image_refs=tuple(request.image_refs))


def import_batches(merchant_id: str, first: marketplace_pb2.ImportProductsRequest, rest):
    """The stream's rows in batches of (row number, row or why it is unreadable)."""
    for message in _chain(first, rest):
        if message.merchant_id not in ("", merchant_id):
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "an import is for one merchant")
        if len(message.rows) > limits.import_rows_per_message_max:
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                                 f"at most {limits.import_rows_per_message_max} rows in one message")
        batch = []
        for row in message.rows:
            try:
                batch.append((row.row_number, row_from_proto(row.product)))
            except FedmallError as error:
                batch.append((row.row_number, error))
        yield batch


def _chain(first, rest):
    yield first
    yield from rest


def search_response(page: SearchPage) -> marketplace_pb2.SearchResponse:
    response = marketplace_pb2.SearchResponse(
        products=[product_to_proto(product) for product in page.products], total=page.total,
        banks_not_answering=page.banks_not_answering, next_cursor=page.next_cursor, total_exact=page.total_exact)
    if page.facets is not None:
        response.facets.CopyFrom(search_rules.counts_to_proto(search_rules.Counts(
            matches=page.total, exact=page.facets.exact, by_category=page.facets.by_category,
            by_price_band=page.facets.by_price_band)))
    return response


def order_to_proto(order: OrderView) -> marketplace_pb2.Order:
    return marketplace_pb2.Order(
        order_id=order.order_id, checkout_id=order.checkout_id, buyer_bank_id=order.buyer_bank_id,
        buyer_account_id=order.buyer_account_id, seller_bank_id=order.seller_bank_id,
        merchant_id=order.merchant_id,
        items=[marketplace_pb2.OrderItem(sku=item.sku, quantity=item.quantity, title=item.title,
                                         unit_price=_money(item.unit_price_minor, order.currency))
               for item in order.items],
        total=_money(order.total_minor, order.currency), state=marketplace_pb2.OrderState.Value(
            f"ORDER_STATE_{order.state}"),
        tracking_reference=order.tracking_reference, refunded=_money(order.refunded_minor, order.currency),
        problem=order.problem, problem_detail=order.problem_detail,
        release_transfer_id=order.release_transfer_id, placed_at_unix_ms=order.placed_at_unix_ms,
        updated_at_unix_ms=order.updated_at_unix_ms, auto_confirm_at_unix_ms=order.auto_confirm_at_unix_ms,
        instalments=order.instalments)


def items_from_proto(items) -> list[Item]:
    return [Item(sku=item.sku, quantity=item.quantity, unit_price_minor=item.unit_price.amount_minor,
                 title=item.title) for item in items]


def abort_with_code(context: grpc.ServicerContext, error: FedmallError) -> None:
    """Search answers no result field: INVALID_ARGUMENT, the result code's name first in the details
    (CATEGORY_UNKNOWN: ..., CATEGORY_TREE_VERSION_MISMATCH: ...)."""
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{name_of(error.code)}: {error}")


class MarketplaceServicer(marketplace_pb2_grpc.MarketplaceServiceServicer):
    """The bank's own channels; callers must hold this bank's certificate."""

    def __init__(self, *, bank_id: str, merchants: MerchantService, catalogue: CatalogueService,
                 seller_orders: SellerOrderService, buyer_orders: BuyerOrderService,
                 product_import: ProductImport, order_lists: OrderLists, reviews: ReviewService) -> None:
        self._bank_id = bank_id
        self._order_lists = order_lists
        self._reviews = reviews
        self._merchants = merchants
        self._product_import = product_import
        self._catalogue = catalogue
        self._seller_orders = seller_orders
        self._buyer_orders = buyer_orders

    @own_bank_only(marketplace_pb2.OnboardMerchantResponse)
    @answers_errors(marketplace_pb2.OnboardMerchantResponse)
    def OnboardMerchant(self, request, context):
        code = self._merchants.onboard(
            merchant_id=request.merchant_id, legal_name=request.legal_name, contact=request.contact,
            settlement_account_id=request.settlement_account_id)
        return marketplace_pb2.OnboardMerchantResponse(result=code)

    @own_bank_only(marketplace_pb2.SetMerchantStatusResponse)
    @answers_errors(marketplace_pb2.SetMerchantStatusResponse)
    def SetMerchantStatus(self, request, context):
        status = _STATUS.get(request.status)
        if status is None:
            return marketplace_pb2.SetMerchantStatusResponse(result=result_pb2.RESULT_CODE_INVALID_FIELD)
        return marketplace_pb2.SetMerchantStatusResponse(
            result=self._merchants.set_status(merchant_id=request.merchant_id, status=status))

    @own_bank_only(marketplace_pb2.UpsertProductResponse)
    @answers_errors(marketplace_pb2.UpsertProductResponse)
    def UpsertProduct(self, request, context):
        row = row_from_proto(request)
        code = self._merchants.upsert_product(
            merchant_id=request.merchant_id, sku=row.sku, title=row.title, description=row.description,
            price_minor=row.price_minor, currency=row.currency, stock=row.stock, product_id=row.product_id,
            size=row.size, colour=row.colour, category_id=row.category_id, status=row.status,
            attributes=row.attributes, image_refs=row.image_refs)
        return marketplace_pb2.UpsertProductResponse(result=code)

    @own_bank_only(marketplace_pb2.SetProductStatusResponse)
    @answers_errors(marketplace_pb2.SetProductStatusResponse)
    def SetProductStatus(self, request, context):
        return marketplace_pb2.SetProductStatusResponse(result=self._merchants.set_product_status(
            merchant_id=request.merchant_id, sku=request.sku, status=product_status(request.status)))

    @own_bank_only(marketplace_pb2.ImportProductsResponse)
    @answers_errors(marketplace_pb2.ImportProductsResponse)
    def ImportProducts(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or not first.merchant_id:
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "the first message names the merchant")
        outcome = self._product_import.run(first.merchant_id,
                                           import_batches(first.merchant_id, first, request_iterator))
        return marketplace_pb2.ImportProductsResponse(
            result=outcome.result, rows_seen=outcome.rows_seen, rows_imported=outcome.rows_imported,
            detail=f"{outcome.problem_count} bad rows; nothing imported" if outcome.problem_count else "",
            problems=[marketplace_pb2.RowProblem(row_number=p.row_number, code=p.code, detail=p.detail[:200])
                      for p in outcome.problems])

    @own_bank_only(marketplace_pb2.ListCategoriesResponse)
    def ListCategories(self, request, context):
        return marketplace_pb2.ListCategoriesResponse(version=categories.VERSION, categories=[
            marketplace_pb2.Category(category_id=c.category_id, name=c.name, parent_id=c.parent_id)
            for c in categories.TREE.categories])

    @own_bank_only(marketplace_pb2.ListMerchantProductsResponse)
    @answers_errors(marketplace_pb2.ListMerchantProductsResponse)
    def ListMerchantProducts(self, request, context):
        products, next_after_sku = self._merchants.list_products(request.merchant_id, after_sku=request.after_sku)
        return marketplace_pb2.ListMerchantProductsResponse(
            result=OK, products=[product_to_proto(product) for product in products], next_after_sku=next_after_sku)

    def Search(self, request, context):
        identity = peer_identity(context)
        if identity is None or identity.role != "bank" or identity.party_id != self._bank_id:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "only this bank's channels may search here")
        try:
            if request.page:
                raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "pages are asked for by cursor")
            search = search_rules.check_search(request.query, request.filters, request.sort,
                                               tree_version=request.category_tree_version)
            page = self._catalogue.search(search, cursor=request.cursor, page_size=request.page_size)
        except FedmallError as error:
            abort_with_code(context, error)
        response = search_response(page)
        if not request.want_facets:
            response.ClearField("facets")
        return response

    @own_bank_only(marketplace_pb2.CheckoutResponse)
    @answers_errors(marketplace_pb2.CheckoutResponse)
    def Checkout(self, request, context):
        outcome = self._buyer_orders.checkout(
            checkout_id=request.checkout_id, buyer_account_id=request.buyer_account_id,
            lines=[CartLine(seller_bank_id=item.seller_bank_id, merchant_id=item.merchant_id, sku=item.sku,
                            quantity=item.quantity, unit_price_minor=item.unit_price.amount_minor,
                            currency=item.unit_price.currency) for item in request.items],
            instalments=request.instalments)
        return marketplace_pb2.CheckoutResponse(
            result=outcome.result, orders=[order_to_proto(order) for order in outcome.orders])

    @own_bank_only(marketplace_pb2.ShipOrderResponse)
    @answers_errors(marketplace_pb2.ShipOrderResponse)
    def ShipOrder(self, request, context):
        code, order = self._seller_orders.ship(merchant_id=request.merchant_id, order_id=request.order_id,
                                               tracking_reference=request.tracking_reference)
        return marketplace_pb2.ShipOrderResponse(result=code, order=order_to_proto(order))

    @own_bank_only(marketplace_pb2.DeclineOrderResponse)
    @answers_errors(marketplace_pb2.DeclineOrderResponse)
    def DeclineOrder(self, request, context):
        code, order = self._seller_orders.decline(merchant_id=request.merchant_id, order_id=request.order_id,
                                                  reason=request.reason)
        return marketplace_pb2.DeclineOrderResponse(result=code, order=order_to_proto(order))

    @own_bank_only(marketplace_pb2.ConfirmReceiptResponse)
    @answers_errors(marketplace_pb2.ConfirmReceiptResponse)
    def ConfirmReceipt(self, request, context):
        order = self._buyer_orders.confirm(buyer_account_id=request.buyer_account_id, order_id=request.order_id)
        return marketplace_pb2.ConfirmReceiptResponse(result=OK, order=order_to_proto(order))

    @own_bank_only(marketplace_pb2.CancelOrderResponse)
    @answers_errors(marketplace_pb2.CancelOrderResponse)
    def CancelOrder(self, request, context):
        order = self._buyer_orders.cancel(buyer_account_id=request.buyer_account_id, order_id=request.order_id)
        return marketplace_pb2.CancelOrderResponse(result=OK, order=order_to_proto(order))

    @own_bank_only(marketplace_pb2.RefundOrderResponse)
    @answers_errors(marketplace_pb2.RefundOrderResponse)
    def RefundOrder(self, request, context):
        code, order = self._seller_orders.refund(
            refund_id=request.refund_id, merchant_id=request.merchant_id, order_id=request.order_id,
            amount_minor=request.amount.amount_minor, currency=request.amount.currency, reason=request.reason)
        return marketplace_pb2.RefundOrderResponse(result=code, order=order_to_proto(order))

    @own_bank_only(marketplace_pb2.GetOrderResponse)
    @answers_errors(marketplace_pb2.GetOrderResponse)
    def GetOrder(self, request, context):
        if bool(request.buyer_account_id) == bool(request.merchant_id):
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "name exactly one of buyer or merchant")
        if request.buyer_account_id:
            order = self._buyer_orders.get(buyer_account_id=request.buyer_account_id, order_id=request.order_id)
        else:
            order = self._seller_orders.get(merchant_id=request.merchant_id, order_id=request.order_id)
        return marketplace_pb2.GetOrderResponse(result=OK, order=order_to_proto(order))

    @own_bank_only(marketplace_pb2.ListOrdersResponse)
    @answers_errors(marketplace_pb2.ListOrdersResponse)
    def ListOrders(self, request, context):
        by_number = marketplace_pb2.OrderState.DESCRIPTOR.values_by_number  # Unknown numbers: refused below.
        states = tuple(by_number[state].name.removeprefix("ORDER_STATE_") if state in by_number else str(state)
                       for state in request.states)
        page = self._order_lists.page(OrderFilter(
            buyer_account_id=request.buyer_account_id, merchant_id=request.merchant_id, states=states,
            placed_from_unix_ms=request.placed_from_unix_ms, placed_before_unix_ms=request.placed_before_unix_ms),
            page_size=request.page_size, cursor=request.cursor)
        return marketplace_pb2.ListOrdersResponse(result=OK, orders=[order_to_proto(order) for order in page.orders],
                                                  next_cursor=page.next_cursor)

    @own_bank_only(marketplace_pb2.ReviewOrderResponse)
    @answers_errors(marketplace_pb2.ReviewOrderResponse)
    def ReviewOrder(self, request, context):
        code, delivered = self._reviews.review(buyer_account_id=request.buyer_account_id, order_id=request.order_id,
                                               rating=request.rating, text=request.text)
        return marketplace_pb2.ReviewOrderResponse(result=code, delivered=delivered)


class MarketplacePeerServicer(marketplace_pb2_grpc.MarketplacePeerServiceServicer):
    """Calls from member banks' nodes (this bank's own too); the caller is its certificate.
    node.callers lets only ACTIVE members' calls reach it."""

    def __init__(self, *, catalogue: CatalogueService, seller_orders: SellerOrderService,
                 buyer_orders: BuyerOrderService, reviews: ReviewService) -> None:
        self._reviews = reviews
        self._catalogue = catalogue
        self._seller_orders = seller_orders
        self._buyer_orders = buyer_orders

    @staticmethod
    def _caller_bank(context: grpc.ServicerContext) -> str:
        identity = peer_identity(context)
        if identity is None or identity.role != "bank":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "only member banks may call")
        return identity.party_id

    def SearchCatalogue(self, request, context):
        self._caller_bank(context)
        try:
            search = search_rules.check_search(request.query, request.filters, request.sort,
                                               tree_version=request.category_tree_version)
            after = search_rules.position_from_proto(request.after) if request.HasField("after") else None
            answer = self._catalogue.search_local(search, after=after, limit=request.limit,
                                                  with_counts=request.want_facets)
        except FedmallError as error:
            abort_with_code(context, error)
        response = marketplace_pb2.SearchCatalogueResponse(
            products=[product_to_proto(product) for product in answer.products])
        if answer.counts is not None:
            response.match_count = answer.counts.matches
            response.facets.CopyFrom(search_rules.counts_to_proto(answer.counts))
        return response

    @answers_errors(marketplace_pb2.PlaceOrderResponse)
    def PlaceOrder(self, request, context):
        buyer_bank_id = self._caller_bank(context)
        placed = self._seller_orders.place(buyer_bank_id=buyer_bank_id, order=PlaceOrder(
            order_id=request.order_id, checkout_id=request.checkout_id, buyer_account_id=request.buyer_account_id,
            merchant_id=request.merchant_id, items=tuple(items_from_proto(request.items)),
            total_minor=request.total.amount_minor, currency=request.total.currency,
            escrow_statement=request.escrow_statement if request.HasField("escrow_statement") else None))
        return marketplace_pb2.PlaceOrderResponse(result=placed.result,
                                                  settlement_account_id=placed.settlement_account_id)

    @answers_errors(marketplace_pb2.NotifyOrderEventResponse)
    def NotifyOrderEvent(self, request, context):
        sender_bank_id = self._caller_bank(context)
        order_events.check_event_fields(request)  # Every field, whichever side's service takes the kind.
        if request.kind in (order_events.CANCELLED, order_events.COMPLETED):
            code = self._seller_orders.apply_event(sender_bank_id=sender_bank_id, event_id=request.event_id,
                                                   order_id=request.order_id, kind=request.kind,
                                                   transfer_id=request.transfer_id)
        elif request.kind in (order_events.SHIPPED, order_events.REFUNDED, *order_events.RETURNS_ESCROW):
            code = self._buyer_orders.apply_event(sender_bank_id=sender_bank_id, event=request)
        else:
            code = result_pb2.RESULT_CODE_INVALID_FIELD
        return marketplace_pb2.NotifyOrderEventResponse(result=code)

    @answers_errors(marketplace_pb2.SubmitReviewResponse)
    def SubmitReview(self, request, context):
        sender_bank_id = self._caller_bank(context)
        code = self._reviews.accept(sender_bank_id=sender_bank_id,
                                    envelope=request.review if request.HasField("review") else None)
        return marketplace_pb2.SubmitReviewResponse(result=code)
