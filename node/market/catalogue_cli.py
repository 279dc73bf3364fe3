"""The catalogue's commands on fedmall-node (beside node.market.cli):

    product set ... [--product-id P] [--size S] [--colour C] [--category C] [--status S]
                    [--attribute NAME=VALUE ...] [--image REF ...]
    product status --merchant M SKU draft|listed|delisted
    product import FILE --merchant M          CSV or JSON Lines; progress on stderr
    category list                             the consortium's category tree
    search QUERY [--category C] [--min-price P] [--max-price P] [--currency C] [--merchant M]
                 [--bank B] [--in-stock] [--sort relevance|price|price-desc|newest] [--facets]
                 [--page-size N] [--cursor C]

An import file is read and every row checked here first (a row that cannot be read, like a
price that is not a decimal, is named with its line and nothing is sent); the node checks every
row again and writes all of them in one transaction or none (node.market.product_import).
"""
from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Iterator

from fedmall.console import table
from fedmall.money import MoneyError, check_currency
from fedmall.v1 import marketplace_pb2, money_pb2, result_pb2

from node import limits
from node.command_output import (
    BadInput, Refused, add_command, amount_minor, code_name, money_column, money_json, money_text, print_json)

SORTS = {"relevance": marketplace_pb2.SEARCH_SORT_RELEVANCE, "price": marketplace_pb2.SEARCH_SORT_PRICE_ASCENDING,
         "price-desc": marketplace_pb2.SEARCH_SORT_PRICE_DESCENDING, "newest": marketplace_pb2.SEARCH_SORT_NEWEST}
STATUSES = {"draft": marketplace_pb2.PRODUCT_STATUS_DRAFT, "listed": marketplace_pb2.PRODUCT_STATUS_LISTED,
            "delisted": marketplace_pb2.PRODUCT_STATUS_DELISTED}
IMPORT_COLUMNS = ("sku", "title", "description", "price", "currency", "stock", "category", "product_id", "size",
                  "colour", "status", "attributes", "images")
import_file_bytes_max = 2 * 1024 * 1024 * 1024
import_timeout_s = 3_600.0          # A million rows at 20,000 a second take under a minute.
problems_shown_max = 20
progress_every_rows = 50_000
import_message_bytes_max = 4 * 1024 * 1024   # Well under the gRPC message bound (fedmall.limits).


def add_set_options(sub) -> None:
    sub.add_argument("--product-id", default="", help="the product this SKU is a variant of (default: the SKU)")
    sub.add_argument("--size", default="")
    sub.add_argument("--colour", default="")
    sub.add_argument("--category", default="", help="a category id (fedmall-node category list)")
    sub.add_argument("--status", choices=sorted(STATUSES), help="default: listed when new, unchanged otherwise")
    sub.add_argument("--attribute", action="append", default=[], metavar="NAME=VALUE")
    sub.add_argument("--image", action="append", default=[], metavar="REF", help="https URL or sha256:<hex>")


def add_product_actions(actions) -> None:
    sub = add_command(actions, "status", "draft, list or delist a product (only listed ones are found and sold)")
    sub.add_argument("--merchant", required=True)
    sub.add_argument("sku")
    sub.add_argument("status", choices=sorted(STATUSES))
    sub = add_command(actions, "import", "import a catalogue from CSV or JSON Lines: every row, or none")
    sub.add_argument("file", type=Path)
    sub.add_argument("--merchant", required=True)
    sub.add_argument("--format", choices=("csv", "jsonl"), help="default: by the file's extension")


def add_commands(commands) -> None:
    category = commands.add_parser("category", help="the consortium's category tree")
    add_command(category.add_subparsers(dest="action", required=True), "list", "every category, as a tree")
    sub = add_command(commands, "search", "search the catalogues of every member bank")
    sub.add_argument("query")
    sub.add_argument("--category", default="", help="this category and every category under it")
    sub.add_argument("--min-price", help="decimal, inclusive")
    sub.add_argument("--max-price", help="decimal, inclusive")
    sub.add_argument("--currency", help="of the price bounds")
    sub.add_argument("--merchant", default="")
    sub.add_argument("--bank", default="")
    sub.add_argument("--in-stock", action="store_true", help="only products with stock available now")
    sub.add_argument("--sort", choices=sorted(SORTS), default="relevance")
    sub.add_argument("--facets", action="store_true", help="counts per category and price band")
    sub.add_argument("--page-size", default="20")
    sub.add_argument("--cursor", default="", help="the next page: the cursor the last page printed")


# Reading an import file. Pure but for reading it; each row becomes an ImportRow or a problem.

def _attributes(value: object, where: str) -> dict[str, str]:
    if isinstance(value, str):  # CSV: "brand=Acme;material=steel"
        pairs = [part.split("=", 1) for part in value.split(";") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise BadInput(f"{where}: attributes are NAME=VALUE;NAME=VALUE")
        value = {name.strip(): text.strip() for name, text in pairs}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadInput(f"{where}: attributes must map names to text")
    return value


def _images(value: object, where: str) -> list[str]:
    if isinstance(value, str):  # CSV: space-separated
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(ref, str) for ref in value):
        raise BadInput(f"{where}: images must be a list of references")
    return value


def _whole(value: object, what: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit() and len(text) <= 19):
        raise BadInput(f"{what} must be a whole number, not {value!r}")
    return int(text)


def import_row(entry: dict, row_number: int) -> marketplace_pb2.ImportRow:
    """One file row as sent; BadInput naming the row when it cannot be read."""
    where = f"row {row_number}"
    unknown = set(entry) - set(IMPORT_COLUMNS)
    if unknown:
        raise BadInput(f"{where}: unknown columns {', '.join(sorted(unknown))}")
    missing = [name for name in ("sku", "title", "price", "currency", "stock") if entry.get(name) in (None, "")]
    if missing:
        raise BadInput(f"{where}: {', '.join(missing)} missing")
    text = {name: entry.get(name) or "" for name in ("sku", "title", "description", "currency", "category",
                                                      "product_id", "size", "colour", "status")}
    if not all(isinstance(value, str) for value in text.values()):
        raise BadInput(f"{where}: sku, title, description and the other names must be text")
    status = text["status"].lower()
    if status and status not in STATUSES:
        raise BadInput(f"{where}: status must be one of {', '.join(sorted(STATUSES))}")
    try:
        currency = check_currency(text["currency"])
        price = amount_minor(str(entry["price"]), currency)
    except (MoneyError, BadInput) as error:
        raise BadInput(f"{where}: price {entry['price']!r}: {error}") from None
    return marketplace_pb2.ImportRow(row_number=row_number, product=marketplace_pb2.UpsertProductRequest(
        sku=text["sku"], title=text["title"], description=text["description"],
        price=money_pb2.Money(amount_minor=price, currency=currency), stock=_whole(entry["stock"], f"{where}: stock"),
        product_id=text["product_id"], size=text["size"], colour=text["colour"], category_id=text["category"],
        status=STATUSES.get(status, marketplace_pb2.PRODUCT_STATUS_UNSPECIFIED),
        attributes=_attributes(entry.get("attributes") or {}, where), image_refs=_images(entry.get("images") or [], where)))


def file_entries(text: str, file_format: str) -> Iterator[tuple[int, dict | BadInput]]:
    """(row number, the row's fields or why it cannot be read); CSV rows count from 1 after the header."""
    if file_format == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for number, entry in enumerate(reader, start=1):
            yield number, (BadInput(f"row {number}: more fields than columns") if None in entry else entry)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError) as error:
            yield number, BadInput(f"row {number}: not JSON: {error}")
            continue
        yield number, entry if isinstance(entry, dict) else BadInput(f"row {number}: not a JSON object")


def read_import(path: Path, file_format: str | None) -> tuple[list[marketplace_pb2.ImportRow], list[str]]:
    """Every row of the file, and the problems of those that cannot be read."""
    file_format = file_format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    try:
        if path.stat().st_size > import_file_bytes_max:
            raise BadInput(f"{path} is larger than {import_file_bytes_max} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BadInput(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None
    rows, problems = [], []
    for number, entry in file_entries(text, file_format):
        try:
            if isinstance(entry, BadInput):
                raise entry
            rows.append(import_row(entry, number))
        except BadInput as error:
            problems.append(str(error))
    if len(rows) + len(problems) > limits.import_rows_max:
        raise BadInput(f"an import holds at most {limits.import_rows_max} rows")
    return rows, problems


def message_batches(rows: list[marketplace_pb2.ImportRow]) -> Iterator[list[marketplace_pb2.ImportRow]]:
    """The rows in stream messages of at most import_rows_per_message_max rows and
    import_message_bytes_max bytes (rows with long descriptions and many attributes are large)."""
    batch, size = [], 0
    for row in rows:
        row_bytes = row.ByteSize()
        if batch and (len(batch) == limits.import_rows_per_message_max or size + row_bytes > import_message_bytes_max):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_bytes
    if batch:
        yield batch


# The commands.

def _import(args, client) -> None:
    rows, problems = read_import(args.file, args.format)
    if problems:
        _refuse_rows(args, len(rows) + len(problems), problems)
    started = time.monotonic()

    def messages() -> Iterator[marketplace_pb2.ImportProductsRequest]:
        sent = reported = 0
        for batch in message_batches(rows):
            yield marketplace_pb2.ImportProductsRequest(merchant_id=args.merchant, rows=batch)
            sent += len(batch)
            if not args.json and (sent == len(rows) or sent - reported >= progress_every_rows):
                print(f"sent {sent} of {len(rows)} rows", file=sys.stderr)
                reported = sent

    response = client.call("ImportProducts", messages(), stub=client.marketplace, timeout_s=import_timeout_s)
    elapsed_s = max(time.monotonic() - started, 1e-9)
    if response.result == result_pb2.RESULT_CODE_IMPORT_ROWS_REFUSED:
        _refuse_rows(args, response.rows_seen, [f"row {p.row_number}: {code_name(p.code)}: {p.detail}"
                                                for p in response.problems], detail=response.detail)
    if response.result not in (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS):
        raise Refused(response.result, response.detail)
    if args.json:
        print_json(dict(merchant_id=args.merchant, result=code_name(response.result), rows=response.rows_seen,
                        rows_changed=response.rows_imported, seconds=round(elapsed_s, 3),
                        rows_per_s=round(response.rows_seen / elapsed_s)))
        return
    print(f"imported {response.rows_seen} rows for {args.merchant} ({response.rows_imported} new or changed) "
          f"in {elapsed_s:.1f} s, {response.rows_seen / elapsed_s:,.0f} rows/s")


def _refuse_rows(args, rows: int, problems: list[str], *, detail: str = "") -> None:
    """The per-row report, then Refused: nothing was imported."""
    if args.json:
        print_json(dict(merchant_id=args.merchant, result="IMPORT_ROWS_REFUSED", rows=rows, rows_changed=0,
                        problems=problems))
    else:
        for problem in problems[:problems_shown_max]:
            print(problem, file=sys.stderr)
        if len(problems) > problems_shown_max:
            print(f"... and {len(problems) - problems_shown_max} more", file=sys.stderr)
    raise Refused(result_pb2.RESULT_CODE_IMPORT_ROWS_REFUSED,
                  detail or f"{len(problems)} of {rows} rows refused; nothing imported")


def _status(args, client) -> None:
    response = client.call("SetProductStatus", marketplace_pb2.SetProductStatusRequest(
        merchant_id=args.merchant, sku=args.sku, status=STATUSES[args.status]), stub=client.marketplace)
    if response.result not in (result_pb2.RESULT_CODE_OK, result_pb2.RESULT_CODE_EXISTS):
        raise Refused(response.result)
    if args.json:
        print_json(dict(merchant_id=args.merchant, sku=args.sku, status=args.status.upper(),
                        result=code_name(response.result)))
        return
    print(f"{args.merchant}/{args.sku}: {args.status.upper()} ({code_name(response.result)})")


def set_fields(args) -> dict:
    """product set's catalogue options as UpsertProductRequest fields."""
    attributes = {}
    for spec in args.attribute:
        name, equals, value = spec.partition("=")
        if not equals or not name.strip():
            raise BadInput(f"--attribute {spec!r} is not NAME=VALUE")
        attributes[name.strip()] = value
    return dict(product_id=args.product_id, size=args.size, colour=args.colour, category_id=args.category,
                status=STATUSES[args.status] if args.status else marketplace_pb2.PRODUCT_STATUS_UNSPECIFIED,
                attributes=attributes, image_refs=args.image)


def _categories(args, client) -> None:
    response = client.call("ListCategories", marketplace_pb2.ListCategoriesRequest(), stub=client.marketplace)
    if args.json:
        print_json(dict(version=response.version, categories=[
            dict(category_id=c.category_id, name=c.name, parent_id=c.parent_id) for c in response.categories]))
        return
    children: dict[str, list] = {}
    for category in response.categories:
        children.setdefault(category.parent_id, []).append(category)

    def walk(parent_id: str, depth: int) -> Iterator[dict]:
        for category in children.get(parent_id, []):
            yield {"category": "  " * depth + category.category_id, "name": category.name}
            yield from walk(category.category_id, depth + 1)

    print(table(list(walk("", 0)), ["category", "name"]))
    print(f"category tree version {response.version}")


def search_request(args) -> marketplace_pb2.SearchRequest:
    filters = marketplace_pb2.SearchFilters(category_id=args.category, merchant_id=args.merchant, bank_id=args.bank,
                                            in_stock=args.in_stock)
    if (args.min_price or args.max_price) and not args.currency:
        raise BadInput("give --currency with --min-price or --max-price")
    for bound, text in (("price_min", args.min_price), ("price_max", args.max_price)):
        if text:
            try:
                currency = check_currency(args.currency)
            except MoneyError as error:
                raise BadInput(str(error)) from None
            getattr(filters, bound).CopyFrom(money_pb2.Money(amount_minor=amount_minor(text, currency),
                                                             currency=currency))
    page_size = args.page_size.strip()
    if not (page_size.isascii() and page_size.isdigit() and 1 <= int(page_size) <= limits.search_page_size_max):
        raise BadInput(f"--page-size must be a whole number from 1 to {limits.search_page_size_max}")
    return marketplace_pb2.SearchRequest(query=args.query, page_size=int(page_size), filters=filters,
                                         sort=SORTS[args.sort], cursor=args.cursor, want_facets=args.facets)


def status_name(status: int) -> str:
    try:
        return marketplace_pb2.ProductStatus.Name(status).removeprefix("PRODUCT_STATUS_")
    except ValueError:
        return str(status)


def product_json(product: marketplace_pb2.Product) -> dict:
    """One search or list row as --json shows it."""
    return dict(bank_id=product.bank_id, merchant_id=product.merchant_id, merchant_name=product.merchant_name,
                sku=product.sku, product_id=product.product_id, title=product.title, description=product.description,
                size=product.size, colour=product.colour, category_id=product.category_id,
                status=status_name(product.status),
                attributes=dict(sorted(product.attributes.items())), image_refs=list(product.image_refs),
                stock_available=product.stock_available, created_at_unix_ms=product.created_at_unix_ms,
                **money_json("price", product.price))


def facets_json(facets: marketplace_pb2.SearchFacets) -> dict:
    return dict(exact=facets.exact,
                categories={facet.category_id: facet.count for facet in facets.categories},
                price_bands=[dict(currency=band.currency, from_minor=band.from_minor, to_minor=band.to_minor,
                                  count=band.count) for band in facets.price_bands])


def _search(args, client) -> None:
    request = search_request(args)
    try:
        response = client.call("Search", request, stub=client.marketplace)
    except ConnectionError as error:  # Search refusals come as INVALID_ARGUMENT with the code's name first.
        if "INVALID_ARGUMENT" in str(error):
            raise BadInput(str(error).split("INVALID_ARGUMENT ", 1)[-1]) from None
        raise
    products, missing = list(response.products), sorted(response.banks_not_answering)
    if args.json:
        print_json(dict(query=args.query, total=response.total, total_exact=response.total_exact,
                        products=[product_json(p) for p in products], banks_not_answering=missing,
                        next_cursor=response.next_cursor,
                        facets=facets_json(response.facets) if response.HasField("facets") else None))
        return
    if products:
        prices = money_column([product.price for product in products])
        print(table([{"bank": p.bank_id, "merchant": p.merchant_id, "sku": p.sku, "title": p.title,
                      "variant": " ".join(v for v in (p.size, p.colour) if v), "category": p.category_id,
                      "price": price, "stock": p.stock_available} for p, price in zip(products, prices)],
                    ["bank", "merchant", "sku", "title", "variant", "category", "price", "stock"]))
    if not args.cursor:
        print(f"{len(products)} shown of {response.total}{'' if response.total_exact else '+'} results")
    if response.HasField("facets"):
        _print_facets(response.facets)
    print(f"banks not answering: {', '.join(missing)}" if missing else "every bank answered")
    print(f"next page: --cursor {response.next_cursor}" if response.next_cursor else "no more results")


def _print_facets(facets: marketplace_pb2.SearchFacets) -> None:
    print(table([{"category": facet.category_id, "matches": facet.count} for facet in facets.categories],
                ["category", "matches"]))
    bands = [dict(band=f"{money_text(money_pb2.Money(amount_minor=b.from_minor, currency=b.currency))} - " + (
        money_text(money_pb2.Money(amount_minor=b.to_minor, currency=b.currency)) if b.to_minor else "..."),
        matches=b.count) for b in facets.price_bands]
    print(table(bands, ["band", "matches"]))


COMMANDS = {"import": _import, "status": _status, "category": _categories, "search": _search}
