"""The catalogue's commands (node.market.catalogue_cli) against a fake MarketplaceService over
real mTLS: import files read and checked before anything is sent, the node's per-row report,
product status, the category tree."""
from __future__ import annotations

import json

import pytest

from fedmall import categories
from fedmall.v1 import marketplace_pb2 as M
from fedmall.v1 import result_pb2 as R

from node.market import catalogue_cli
from tests.node.cli_support import json_out
from tests.node.market.test_cli import FakeMarketplace, eur, serving


class FakeCatalogue(FakeMarketplace):
    """Adds the catalogue's calls; ImportProducts answers import_answer after reading the stream."""
    import_answer: M.ImportProductsResponse | None = None

    def ImportProducts(self, request_iterator, context):
        messages = list(request_iterator)
        self.requests.append(("ImportProducts", messages))
        rows = sum(len(message.rows) for message in messages)
        return self.import_answer or M.ImportProductsResponse(result=R.RESULT_CODE_OK, rows_seen=rows,
                                                              rows_imported=rows)

    def SetProductStatus(self, request, context):
        return self._answer("SetProductStatus", request, M.SetProductStatusResponse)

    def ListCategories(self, request, context):
        self.requests.append(("ListCategories", request))
        return M.ListCategoriesResponse(version=categories.VERSION, categories=[
            M.Category(category_id=c.category_id, name=c.name, parent_id=c.parent_id)
            for c in categories.TREE.categories])


@pytest.fixture
def node(consortium):
    with serving(consortium, FakeCatalogue()) as node:
        yield node


CSV = """sku,title,description,price,currency,stock,category,product_id,size,colour,status,attributes,images
tee-m,Tee,cotton tee,15.00,EUR,3,clothing,tee,M,red,listed,material=cotton;fit=slim,sha256:""" + "ab" * 32 + """
tee-l,Tee,,15.50,EUR,0,clothing,tee,L,red,draft,,
"""


def test_import__csv_rows_streamed_with_every_field(node, tmp_path, capsys):
    path = tmp_path / "catalogue.csv"
    path.write_text(CSV)
    assert node.run("product", "import", str(path), "--merchant", "acme") == 0
    [messages] = node.fake.sent("ImportProducts")
    rows = [row for message in messages for row in message.rows]
    assert messages[0].merchant_id == "acme" and [row.row_number for row in rows] == [1, 2]
    assert rows[0].product == M.UpsertProductRequest(
        sku="tee-m", title="Tee", description="cotton tee", price=eur(1500), stock=3, category_id="clothing",
        product_id="tee", size="M", colour="red", status=M.PRODUCT_STATUS_LISTED,
        attributes={"material": "cotton", "fit": "slim"}, image_refs=["sha256:" + "ab" * 32])
    assert rows[1].product.status == M.PRODUCT_STATUS_DRAFT and rows[1].product.price == eur(1550)
    assert capsys.readouterr().out.startswith("imported 2 rows for acme")


def test_import__a_bad_price_names_its_row_and_sends_nothing(node, tmp_path, capsys):
    path = tmp_path / "catalogue.jsonl"
    lines = [dict(sku="a", title="A", price="1.00", currency="EUR", stock=1),
             dict(sku="b", title="B", price="1.005", currency="EUR", stock=1),   # Three decimals in EUR.
             dict(sku="c", title="C", price="free", currency="EUR", stock=1),
             dict(sku="d", title="D", price="2.00", currency="EUR", stock="many")]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert node.run("product", "import", str(path), "--merchant", "acme", "--json") == 1
    document = json.loads(capsys.readouterr().out.splitlines()[0])
    assert document["result"] == "IMPORT_ROWS_REFUSED" and document["rows"] == 4
    assert [problem.split(":")[0] for problem in document["problems"]] == ["row 2", "row 3", "row 4"]
    assert node.fake.requests == []  # Nothing was sent: nothing imported.


def test_import__the_nodes_refusal_is_reported_per_row_and_exits_1(node, tmp_path, capsys):
    node.fake.import_answer = M.ImportProductsResponse(
        result=R.RESULT_CODE_IMPORT_ROWS_REFUSED, rows_seen=2, detail="1 bad rows; nothing imported",
        problems=[M.RowProblem(row_number=2, code=R.RESULT_CODE_CATEGORY_UNKNOWN, detail="no category 'x'")])
    path = tmp_path / "catalogue.csv"
    path.write_text(CSV)
    assert node.run("product", "import", str(path), "--merchant", "acme") == 1
    err = capsys.readouterr().err
    assert "row 2: CATEGORY_UNKNOWN: no category 'x'" in err and "nothing imported" in err


def test_message_batches__bounded_by_rows_and_by_bytes():
    small = [M.ImportRow(row_number=n, product=M.UpsertProductRequest(sku=f"s{n}")) for n in range(2_500)]
    assert [len(batch) for batch in catalogue_cli.message_batches(small)] == [2_000, 500]
    large = [M.ImportRow(row_number=n, product=M.UpsertProductRequest(sku=f"s{n}", description="d" * 2_000))
             for n in range(5_000)]
    batches = list(catalogue_cli.message_batches(large))
    assert sum(len(batch) for batch in batches) == 5_000 and len(batches) == 3
    assert all(sum(row.ByteSize() for row in batch) <= catalogue_cli.import_message_bytes_max for batch in batches)


def test_import__unreadable_file_exits_2(node, tmp_path):
    assert node.run("product", "import", str(tmp_path / "missing.csv"), "--merchant", "acme") == 2
    assert node.fake.requests == []


def test_product_status__sends_the_status(node, capsys):
    assert node.run("product", "status", "--merchant", "acme", "SKU-1", "delisted") == 0
    [request] = node.fake.sent("SetProductStatus")
    assert (request.merchant_id, request.sku, request.status) == ("acme", "SKU-1", M.PRODUCT_STATUS_DELISTED)


def test_product_set__catalogue_options(node):
    assert node.run("product", "set", "--merchant", "acme", "tee-m", "--title", "Tee", "--price", "15",
                    "--currency", "EUR", "--stock", "3", "--product-id", "tee", "--size", "M", "--category",
                    "clothing", "--status", "draft", "--attribute", "material=cotton", "--image",
                    "https://img.example/tee.png") == 0
    [request] = node.fake.sent("UpsertProduct")
    assert (request.product_id, request.size, request.category_id, request.status) == (
        "tee", "M", "clothing", M.PRODUCT_STATUS_DRAFT)
    assert dict(request.attributes) == {"material": "cotton"} and list(request.image_refs) == [
        "https://img.example/tee.png"]
    assert node.run("product", "set", "--merchant", "acme", "x", "--title", "T", "--price", "1", "--currency",
                    "EUR", "--stock", "1", "--attribute", "no-equals") == 2


def test_category_list__tree_table_and_json(node, capsys):
    assert node.run("category", "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["category", "name"]
    assert any(line.startswith("  kitchen") for line in out)  # Indented under home.
    assert out[-1] == f"category tree version {categories.VERSION}"
    assert node.run("category", "list", "--json") == 0
    document = json_out(capsys)
    assert document["version"] == categories.VERSION
    assert {"category_id": "kitchen", "name": "Kitchen", "parent_id": "home"} in document["categories"]
