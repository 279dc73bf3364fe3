"""docs/protocol.md and the code state some facts both: they must agree. The limits table is
fedmall.limits and the Limits message, the result code table is result.proto, the delivery
kinds are fedmall.delivery_kinds, and every RPC members call is specified."""
from __future__ import annotations

import re
from pathlib import Path

from fedmall import delivery_kinds, limits
from fedmall.v1 import clearing_pb2, limits_pb2, node_pb2, result_pb2

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
ROW = re.compile(r"^\|(.+)\|\s*$")


def section(number: int) -> str:
    """The text of '## number. ...' up to the next section."""
    text = DOC.read_text()
    start = re.search(rf"^## {number}\. .*$", text, re.MULTILINE)
    assert start, f"docs/protocol.md has no section {number}"
    end = re.search(r"^## \d+\. ", text[start.end():], re.MULTILINE)
    return text[start.end(): start.end() + end.start() if end else len(text)]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every table row but headers and rules, backticks removed."""
    rows = [[cell.strip().strip("`") for cell in match.group(1).split("|")]
            for match in map(ROW.match, text.splitlines()) if match]
    return [row for row in rows[1:] if not set(row[0]) <= set("- ") and row != rows[0]]


def test_limits_table__is_every_served_limit_with_its_value():
    documented = {name: int(value.replace("_", "")) for name, value in table_rows(section(10))}
    served = {field.name: getattr(limits, field.name) for field in limits_pb2.Limits.DESCRIPTOR.fields}
    assert documented == served


def test_result_code_table__is_result_proto():
    documented = {int(number): name for number, name, _ in table_rows(section(11))}
    defined = {value.number: value.name.removeprefix("RESULT_CODE_")
               for value in result_pb2.ResultCode.DESCRIPTOR.values}
    assert documented == defined, "add a row to docs/protocol.md section 11 for every new result code"


def test_delivery_kinds_table__is_fedmall_delivery_kinds():
    documented = {kind: payload_type for kind, payload_type, _ in table_rows(section(7))}
    assert documented == {clearing_pb2.DeliveryKind.Name(kind).removeprefix("DELIVERY_KIND_"): payload_type
                          for kind, payload_type in delivery_kinds.PAYLOAD_TYPES.items()}


def test_every_rpc_members_call__is_specified():
    specified = {row[0] for row in table_rows(section(6))}
    for service in (clearing_pb2.DESCRIPTOR.services_by_name["ClearingService"],
                    node_pb2.DESCRIPTOR.services_by_name["PeerService"]):
        missing = {method.name for method in service.methods} - specified
        assert not missing, f"docs/protocol.md section 6 does not specify {service.name}: {sorted(missing)}"
