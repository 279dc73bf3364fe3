from fedmall.v1 import envelope_pb2 as _envelope_pb2
from fedmall.v1 import money_pb2 as _money_pb2
from fedmall.v1 import result_pb2 as _result_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MerchantStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MERCHANT_STATUS_UNSPECIFIED: _ClassVar[MerchantStatus]
    MERCHANT_STATUS_ACTIVE: _ClassVar[MerchantStatus]
    MERCHANT_STATUS_SUSPENDED: _ClassVar[MerchantStatus]

class ProductStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRODUCT_STATUS_UNSPECIFIED: _ClassVar[ProductStatus]
    PRODUCT_STATUS_DRAFT: _ClassVar[ProductStatus]
    PRODUCT_STATUS_LISTED: _ClassVar[ProductStatus]
    PRODUCT_STATUS_DELISTED: _ClassVar[ProductStatus]

class SearchSort(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_SORT_UNSPECIFIED: _ClassVar[SearchSort]
    SEARCH_SORT_RELEVANCE: _ClassVar[SearchSort]
    SEARCH_SORT_PRICE_ASCENDING: _ClassVar[SearchSort]
    SEARCH_SORT_PRICE_DESCENDING: _ClassVar[SearchSort]
    SEARCH_SORT_NEWEST: _ClassVar[SearchSort]

class OrderState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATE_UNSPECIFIED: _ClassVar[OrderState]
    ORDER_STATE_PLACING: _ClassVar[OrderState]
    ORDER_STATE_PAID: _ClassVar[OrderState]
    ORDER_STATE_SHIPPED: _ClassVar[OrderState]
    ORDER_STATE_RECEIVED: _ClassVar[OrderState]
    ORDER_STATE_COMPLETED: _ClassVar[OrderState]
    ORDER_STATE_CANCELLED: _ClassVar[OrderState]
    ORDER_STATE_REFUNDED: _ClassVar[OrderState]
    ORDER_STATE_FAILED: _ClassVar[OrderState]

class OrderEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_EVENT_KIND_UNSPECIFIED: _ClassVar[OrderEventKind]
    ORDER_EVENT_KIND_SHIPPED: _ClassVar[OrderEventKind]
    ORDER_EVENT_KIND_CANCELLED: _ClassVar[OrderEventKind]
    ORDER_EVENT_KIND_COMPLETED: _ClassVar[OrderEventKind]
    ORDER_EVENT_KIND_REFUNDED: _ClassVar[OrderEventKind]
    ORDER_EVENT_KIND_DECLINED: _ClassVar[OrderEventKind]
    ORDER_EVENT_KIND_RESERVATION_EXPIRED: _ClassVar[OrderEventKind]
MERCHANT_STATUS_UNSPECIFIED: MerchantStatus
MERCHANT_STATUS_ACTIVE: MerchantStatus
MERCHANT_STATUS_SUSPENDED: MerchantStatus
PRODUCT_STATUS_UNSPECIFIED: ProductStatus
PRODUCT_STATUS_DRAFT: ProductStatus
PRODUCT_STATUS_LISTED: ProductStatus
PRODUCT_STATUS_DELISTED: ProductStatus
SEARCH_SORT_UNSPECIFIED: SearchSort
SEARCH_SORT_RELEVANCE: SearchSort
SEARCH_SORT_PRICE_ASCENDING: SearchSort
SEARCH_SORT_PRICE_DESCENDING: SearchSort
SEARCH_SORT_NEWEST: SearchSort
ORDER_STATE_UNSPECIFIED: OrderState
ORDER_STATE_PLACING: OrderState
ORDER_STATE_PAID: OrderState
ORDER_STATE_SHIPPED: OrderState
ORDER_STATE_RECEIVED: OrderState
ORDER_STATE_COMPLETED: OrderState
ORDER_STATE_CANCELLED: OrderState
ORDER_STATE_REFUNDED: OrderState
ORDER_STATE_FAILED: OrderState
ORDER_EVENT_KIND_UNSPECIFIED: OrderEventKind
ORDER_EVENT_KIND_SHIPPED: OrderEventKind
ORDER_EVENT_KIND_CANCELLED: OrderEventKind
ORDER_EVENT_KIND_COMPLETED: OrderEventKind
ORDER_EVENT_KIND_REFUNDED: OrderEventKind
ORDER_EVENT_KIND_DECLINED: OrderEventKind
ORDER_EVENT_KIND_RESERVATION_EXPIRED: OrderEventKind

class Product(_message.Message):
    __slots__ = ("bank_id", "merchant_id", "merchant_name", "sku", "title", "description", "price", "stock_available", "product_id", "size", "colour", "category_id", "status", "attributes", "image_refs", "created_at_unix_ms", "rating_count", "rating_average_centi")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_NAME_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    STOCK_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    COLOUR_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_REFS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    RATING_COUNT_FIELD_NUMBER: _ClassVar[int]
    RATING_AVERAGE_CENTI_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    merchant_id: str
    merchant_name: str
    sku: str
    title: str
    description: str
    price: _money_pb2.Money
    stock_available: int
    product_id: str
    size: str
    colour: str
    category_id: str
    status: ProductStatus
    attributes: _containers.ScalarMap[str, str]
    image_refs: _containers.RepeatedScalarFieldContainer[str]
    created_at_unix_ms: int
    rating_count: int
    rating_average_centi: int
    def __init__(self, bank_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., merchant_name: _Optional[str] = ..., sku: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., stock_available: _Optional[int] = ..., product_id: _Optional[str] = ..., size: _Optional[str] = ..., colour: _Optional[str] = ..., category_id: _Optional[str] = ..., status: _Optional[_Union[ProductStatus, str]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., image_refs: _Optional[_Iterable[str]] = ..., created_at_unix_ms: _Optional[int] = ..., rating_count: _Optional[int] = ..., rating_average_centi: _Optional[int] = ...) -> None: ...

class OrderItem(_message.Message):
    __slots__ = ("sku", "quantity", "unit_price", "title")
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    sku: str
    quantity: int
    unit_price: _money_pb2.Money
    title: str
    def __init__(self, sku: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., title: _Optional[str] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("order_id", "checkout_id", "buyer_bank_id", "buyer_account_id", "seller_bank_id", "merchant_id", "items", "total", "state", "tracking_reference", "refunded", "problem", "problem_detail", "release_transfer_id", "placed_at_unix_ms", "updated_at_unix_ms", "auto_confirm_at_unix_ms", "instalments")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SELLER_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRACKING_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_DETAIL_FIELD_NUMBER: _ClassVar[int]
    RELEASE_TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    PLACED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    AUTO_CONFIRM_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    INSTALMENTS_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    checkout_id: str
    buyer_bank_id: str
    buyer_account_id: str
    seller_bank_id: str
    merchant_id: str
    items: _containers.RepeatedCompositeFieldContainer[OrderItem]
    total: _money_pb2.Money
    state: OrderState
    tracking_reference: str
    refunded: _money_pb2.Money
    problem: _result_pb2.ResultCode
    problem_detail: str
    release_transfer_id: str
    placed_at_unix_ms: int
    updated_at_unix_ms: int
    auto_confirm_at_unix_ms: int
    instalments: int
    def __init__(self, order_id: _Optional[str] = ..., checkout_id: _Optional[str] = ..., buyer_bank_id: _Optional[str] = ..., buyer_account_id: _Optional[str] = ..., seller_bank_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[OrderItem, _Mapping]]] = ..., total: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., state: _Optional[_Union[OrderState, str]] = ..., tracking_reference: _Optional[str] = ..., refunded: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., problem: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., problem_detail: _Optional[str] = ..., release_transfer_id: _Optional[str] = ..., placed_at_unix_ms: _Optional[int] = ..., updated_at_unix_ms: _Optional[int] = ..., auto_confirm_at_unix_ms: _Optional[int] = ..., instalments: _Optional[int] = ...) -> None: ...

class OnboardMerchantRequest(_message.Message):
    __slots__ = ("merchant_id", "legal_name", "contact", "settlement_account_id")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    LEGAL_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    legal_name: str
    contact: str
    settlement_account_id: str
    def __init__(self, merchant_id: _Optional[str] = ..., legal_name: _Optional[str] = ..., contact: _Optional[str] = ..., settlement_account_id: _Optional[str] = ...) -> None: ...

class OnboardMerchantResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ...) -> None: ...

class SetMerchantStatusRequest(_message.Message):
    __slots__ = ("merchant_id", "status")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    status: MerchantStatus
    def __init__(self, merchant_id: _Optional[str] = ..., status: _Optional[_Union[MerchantStatus, str]] = ...) -> None: ...

class SetMerchantStatusResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ...) -> None: ...

class UpsertProductRequest(_message.Message):
    __slots__ = ("merchant_id", "sku", "title", "description", "price", "stock", "product_id", "size", "colour", "category_id", "status", "attributes", "image_refs")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    COLOUR_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_REFS_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    sku: str
    title: str
    description: str
    price: _money_pb2.Money
    stock: int
    product_id: str
    size: str
    colour: str
    category_id: str
    status: ProductStatus
    attributes: _containers.ScalarMap[str, str]
    image_refs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, merchant_id: _Optional[str] = ..., sku: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., stock: _Optional[int] = ..., product_id: _Optional[str] = ..., size: _Optional[str] = ..., colour: _Optional[str] = ..., category_id: _Optional[str] = ..., status: _Optional[_Union[ProductStatus, str]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., image_refs: _Optional[_Iterable[str]] = ...) -> None: ...

class UpsertProductResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ...) -> None: ...

class ListMerchantProductsRequest(_message.Message):
    __slots__ = ("merchant_id", "after_sku")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SKU_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    after_sku: str
    def __init__(self, merchant_id: _Optional[str] = ..., after_sku: _Optional[str] = ...) -> None: ...

class ListMerchantProductsResponse(_message.Message):
    __slots__ = ("result", "products", "next_after_sku")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_SKU_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    products: _containers.RepeatedCompositeFieldContainer[Product]
    next_after_sku: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ..., next_after_sku: _Optional[str] = ...) -> None: ...

class SetProductStatusRequest(_message.Message):
    __slots__ = ("merchant_id", "sku", "status")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    sku: str
    status: ProductStatus
    def __init__(self, merchant_id: _Optional[str] = ..., sku: _Optional[str] = ..., status: _Optional[_Union[ProductStatus, str]] = ...) -> None: ...

class SetProductStatusResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ...) -> None: ...

class ImportRow(_message.Message):
    __slots__ = ("row_number", "product")
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    product: UpsertProductRequest
    def __init__(self, row_number: _Optional[int] = ..., product: _Optional[_Union[UpsertProductRequest, _Mapping]] = ...) -> None: ...

class ImportProductsRequest(_message.Message):
    __slots__ = ("merchant_id", "rows")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    rows: _containers.RepeatedCompositeFieldContainer[ImportRow]
    def __init__(self, merchant_id: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[ImportRow, _Mapping]]] = ...) -> None: ...

class RowProblem(_message.Message):
    __slots__ = ("row_number", "code", "detail")
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    code: _result_pb2.ResultCode
    detail: str
    def __init__(self, row_number: _Optional[int] = ..., code: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class ImportProductsResponse(_message.Message):
    __slots__ = ("result", "detail", "rows_seen", "rows_imported", "problems")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ROWS_SEEN_FIELD_NUMBER: _ClassVar[int]
    ROWS_IMPORTED_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    rows_seen: int
    rows_imported: int
    problems: _containers.RepeatedCompositeFieldContainer[RowProblem]
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., rows_seen: _Optional[int] = ..., rows_imported: _Optional[int] = ..., problems: _Optional[_Iterable[_Union[RowProblem, _Mapping]]] = ...) -> None: ...

class ListCategoriesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Category(_message.Message):
    __slots__ = ("category_id", "name", "parent_id")
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    category_id: str
    name: str
    parent_id: str
    def __init__(self, category_id: _Optional[str] = ..., name: _Optional[str] = ..., parent_id: _Optional[str] = ...) -> None: ...

class ListCategoriesResponse(_message.Message):
    __slots__ = ("version", "categories")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    version: int
    categories: _containers.RepeatedCompositeFieldContainer[Category]
    def __init__(self, version: _Optional[int] = ..., categories: _Optional[_Iterable[_Union[Category, _Mapping]]] = ...) -> None: ...

class SearchFilters(_message.Message):
    __slots__ = ("category_id", "price_min", "price_max", "merchant_id", "bank_id", "in_stock")
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_MIN_FIELD_NUMBER: _ClassVar[int]
    PRICE_MAX_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    IN_STOCK_FIELD_NUMBER: _ClassVar[int]
    category_id: str
    price_min: _money_pb2.Money
    price_max: _money_pb2.Money
    merchant_id: str
    bank_id: str
    in_stock: bool
    def __init__(self, category_id: _Optional[str] = ..., price_min: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., price_max: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., merchant_id: _Optional[str] = ..., bank_id: _Optional[str] = ..., in_stock: _Optional[bool] = ...) -> None: ...

class SearchPosition(_message.Message):
    __slots__ = ("score", "price_minor", "created_at_unix_ms", "merchant_id", "sku")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    score: int
    price_minor: int
    created_at_unix_ms: int
    merchant_id: str
    sku: str
    def __init__(self, score: _Optional[int] = ..., price_minor: _Optional[int] = ..., created_at_unix_ms: _Optional[int] = ..., merchant_id: _Optional[str] = ..., sku: _Optional[str] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "page_size", "page", "filters", "sort", "cursor", "want_facets", "category_tree_version")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    WANT_FACETS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_TREE_VERSION_FIELD_NUMBER: _ClassVar[int]
    query: str
    page_size: int
    page: int
    filters: SearchFilters
    sort: SearchSort
    cursor: str
    want_facets: bool
    category_tree_version: int
    def __init__(self, query: _Optional[str] = ..., page_size: _Optional[int] = ..., page: _Optional[int] = ..., filters: _Optional[_Union[SearchFilters, _Mapping]] = ..., sort: _Optional[_Union[SearchSort, str]] = ..., cursor: _Optional[str] = ..., want_facets: _Optional[bool] = ..., category_tree_version: _Optional[int] = ...) -> None: ...

class CategoryFacet(_message.Message):
    __slots__ = ("category_id", "count")
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    category_id: str
    count: int
    def __init__(self, category_id: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class PriceBandFacet(_message.Message):
    __slots__ = ("currency", "from_minor", "to_minor", "count")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    FROM_MINOR_FIELD_NUMBER: _ClassVar[int]
    TO_MINOR_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    currency: str
    from_minor: int
    to_minor: int
    count: int
    def __init__(self, currency: _Optional[str] = ..., from_minor: _Optional[int] = ..., to_minor: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class SearchFacets(_message.Message):
    __slots__ = ("categories", "price_bands", "exact")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    PRICE_BANDS_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedCompositeFieldContainer[CategoryFacet]
    price_bands: _containers.RepeatedCompositeFieldContainer[PriceBandFacet]
    exact: bool
    def __init__(self, categories: _Optional[_Iterable[_Union[CategoryFacet, _Mapping]]] = ..., price_bands: _Optional[_Iterable[_Union[PriceBandFacet, _Mapping]]] = ..., exact: _Optional[bool] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("products", "total", "banks_not_answering", "next_cursor", "facets", "total_exact")
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BANKS_NOT_ANSWERING_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    FACETS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EXACT_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[Product]
    total: int
    banks_not_answering: _containers.RepeatedScalarFieldContainer[str]
    next_cursor: str
    facets: SearchFacets
    total_exact: bool
    def __init__(self, products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ..., total: _Optional[int] = ..., banks_not_answering: _Optional[_Iterable[str]] = ..., next_cursor: _Optional[str] = ..., facets: _Optional[_Union[SearchFacets, _Mapping]] = ..., total_exact: _Optional[bool] = ...) -> None: ...

class CartItem(_message.Message):
    __slots__ = ("seller_bank_id", "merchant_id", "sku", "quantity", "unit_price")
    SELLER_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    seller_bank_id: str
    merchant_id: str
    sku: str
    quantity: int
    unit_price: _money_pb2.Money
    def __init__(self, seller_bank_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class CheckoutRequest(_message.Message):
    __slots__ = ("checkout_id", "buyer_account_id", "items", "instalments")
    CHECKOUT_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    INSTALMENTS_FIELD_NUMBER: _ClassVar[int]
    checkout_id: str
    buyer_account_id: str
    items: _containers.RepeatedCompositeFieldContainer[CartItem]
    instalments: int
    def __init__(self, checkout_id: _Optional[str] = ..., buyer_account_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[CartItem, _Mapping]]] = ..., instalments: _Optional[int] = ...) -> None: ...

class CheckoutResponse(_message.Message):
    __slots__ = ("result", "detail", "orders")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ...) -> None: ...

class ShipOrderRequest(_message.Message):
    __slots__ = ("merchant_id", "order_id", "tracking_reference")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    order_id: str
    tracking_reference: str
    def __init__(self, merchant_id: _Optional[str] = ..., order_id: _Optional[str] = ..., tracking_reference: _Optional[str] = ...) -> None: ...

class ShipOrderResponse(_message.Message):
    __slots__ = ("result", "order")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    order: Order
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class DeclineOrderRequest(_message.Message):
    __slots__ = ("merchant_id", "order_id", "reason")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    order_id: str
    reason: str
    def __init__(self, merchant_id: _Optional[str] = ..., order_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DeclineOrderResponse(_message.Message):
    __slots__ = ("result", "detail", "order")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    order: Order
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class ConfirmReceiptRequest(_message.Message):
    __slots__ = ("buyer_account_id", "order_id")
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    buyer_account_id: str
    order_id: str
    def __init__(self, buyer_account_id: _Optional[str] = ..., order_id: _Optional[str] = ...) -> None: ...

class ConfirmReceiptResponse(_message.Message):
    __slots__ = ("result", "order")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    order: Order
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class CancelOrderRequest(_message.Message):
    __slots__ = ("buyer_account_id", "order_id")
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    buyer_account_id: str
    order_id: str
    def __init__(self, buyer_account_id: _Optional[str] = ..., order_id: _Optional[str] = ...) -> None: ...

class CancelOrderResponse(_message.Message):
    __slots__ = ("result", "order")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    order: Order
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class RefundOrderRequest(_message.Message):
    __slots__ = ("refund_id", "merchant_id", "order_id", "amount", "reason")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    merchant_id: str
    order_id: str
    amount: _money_pb2.Money
    reason: str
    def __init__(self, refund_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., order_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class RefundOrderResponse(_message.Message):
    __slots__ = ("result", "order")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    order: Order
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id", "buyer_account_id", "merchant_id")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    buyer_account_id: str
    merchant_id: str
    def __init__(self, order_id: _Optional[str] = ..., buyer_account_id: _Optional[str] = ..., merchant_id: _Optional[str] = ...) -> None: ...

class GetOrderResponse(_message.Message):
    __slots__ = ("result", "order")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    order: Order
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class ListOrdersRequest(_message.Message):
    __slots__ = ("buyer_account_id", "merchant_id", "states", "placed_from_unix_ms", "placed_before_unix_ms", "page_size", "cursor")
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    PLACED_FROM_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PLACED_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    buyer_account_id: str
    merchant_id: str
    states: _containers.RepeatedScalarFieldContainer[OrderState]
    placed_from_unix_ms: int
    placed_before_unix_ms: int
    page_size: int
    cursor: str
    def __init__(self, buyer_account_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., states: _Optional[_Iterable[_Union[OrderState, str]]] = ..., placed_from_unix_ms: _Optional[int] = ..., placed_before_unix_ms: _Optional[int] = ..., page_size: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListOrdersResponse(_message.Message):
    __slots__ = ("orders", "result", "detail", "next_cursor")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    result: _result_pb2.ResultCode
    detail: str
    next_cursor: str
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class ReviewOrderRequest(_message.Message):
    __slots__ = ("buyer_account_id", "order_id", "rating", "text")
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    buyer_account_id: str
    order_id: str
    rating: int
    text: str
    def __init__(self, buyer_account_id: _Optional[str] = ..., order_id: _Optional[str] = ..., rating: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class ReviewOrderResponse(_message.Message):
    __slots__ = ("result", "detail", "delivered")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    delivered: bool
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., delivered: _Optional[bool] = ...) -> None: ...

class OrderReview(_message.Message):
    __slots__ = ("order_id", "buyer_bank_id", "seller_bank_id", "merchant_id", "rating", "text", "reviewed_at_unix_ms")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    SELLER_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    buyer_bank_id: str
    seller_bank_id: str
    merchant_id: str
    rating: int
    text: str
    reviewed_at_unix_ms: int
    def __init__(self, order_id: _Optional[str] = ..., buyer_bank_id: _Optional[str] = ..., seller_bank_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., rating: _Optional[int] = ..., text: _Optional[str] = ..., reviewed_at_unix_ms: _Optional[int] = ...) -> None: ...

class SubmitReviewRequest(_message.Message):
    __slots__ = ("review",)
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    review: _envelope_pb2.Envelope
    def __init__(self, review: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class SubmitReviewResponse(_message.Message):
    __slots__ = ("result", "detail")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class SearchCatalogueRequest(_message.Message):
    __slots__ = ("query", "limit", "filters", "sort", "after", "want_facets", "category_tree_version")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    WANT_FACETS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_TREE_VERSION_FIELD_NUMBER: _ClassVar[int]
    query: str
    limit: int
    filters: SearchFilters
    sort: SearchSort
    after: SearchPosition
    want_facets: bool
    category_tree_version: int
    def __init__(self, query: _Optional[str] = ..., limit: _Optional[int] = ..., filters: _Optional[_Union[SearchFilters, _Mapping]] = ..., sort: _Optional[_Union[SearchSort, str]] = ..., after: _Optional[_Union[SearchPosition, _Mapping]] = ..., want_facets: _Optional[bool] = ..., category_tree_version: _Optional[int] = ...) -> None: ...

class SearchCatalogueResponse(_message.Message):
    __slots__ = ("products", "match_count", "facets")
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    MATCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    FACETS_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[Product]
    match_count: int
    facets: SearchFacets
    def __init__(self, products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ..., match_count: _Optional[int] = ..., facets: _Optional[_Union[SearchFacets, _Mapping]] = ...) -> None: ...

class PlaceOrderRequest(_message.Message):
    __slots__ = ("order_id", "checkout_id", "buyer_account_id", "merchant_id", "items", "total", "escrow_statement")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ESCROW_STATEMENT_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    checkout_id: str
    buyer_account_id: str
    merchant_id: str
    items: _containers.RepeatedCompositeFieldContainer[OrderItem]
    total: _money_pb2.Money
    escrow_statement: _envelope_pb2.Envelope
    def __init__(self, order_id: _Optional[str] = ..., checkout_id: _Optional[str] = ..., buyer_account_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[OrderItem, _Mapping]]] = ..., total: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., escrow_statement: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class EscrowStatement(_message.Message):
    __slots__ = ("order_id", "buyer_bank_id", "seller_bank_id", "merchant_id", "amount", "escrow_entry_id", "escrowed_at_unix_ms")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    SELLER_BANK_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ESCROW_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    ESCROWED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    buyer_bank_id: str
    seller_bank_id: str
    merchant_id: str
    amount: _money_pb2.Money
    escrow_entry_id: str
    escrowed_at_unix_ms: int
    def __init__(self, order_id: _Optional[str] = ..., buyer_bank_id: _Optional[str] = ..., seller_bank_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., escrow_entry_id: _Optional[str] = ..., escrowed_at_unix_ms: _Optional[int] = ...) -> None: ...

class PlaceOrderResponse(_message.Message):
    __slots__ = ("result", "detail", "settlement_account_id")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    detail: str
    settlement_account_id: str
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ..., detail: _Optional[str] = ..., settlement_account_id: _Optional[str] = ...) -> None: ...

class NotifyOrderEventRequest(_message.Message):
    __slots__ = ("event_id", "order_id", "kind", "tracking_reference", "amount", "transfer_id", "reason")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TRACKING_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    order_id: str
    kind: OrderEventKind
    tracking_reference: str
    amount: _money_pb2.Money
    transfer_id: str
    reason: str
    def __init__(self, event_id: _Optional[str] = ..., order_id: _Optional[str] = ..., kind: _Optional[_Union[OrderEventKind, str]] = ..., tracking_reference: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., transfer_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class NotifyOrderEventResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _result_pb2.ResultCode
    def __init__(self, result: _Optional[_Union[_result_pb2.ResultCode, str]] = ...) -> None: ...
