"""AST -> source text (fully parenthesized), for messages, tests and tooling."""

from __future__ import annotations

import decimal

from metacrm.expressions import nodes as n


def _literal(node: n.Literal) -> str:
    v = node.value
    if v is None:
        return "null"
    if node.kind == "boolean":
        return "true" if v else "false"
    if node.kind == "date":
        return f"#{v.isoformat()}"
    if node.kind == "text":
        return (
            "'"
            + v.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")
            + "'"
        )
    text = format(v, "f") if isinstance(v, decimal.Decimal) else str(v)
    if isinstance(v, decimal.Decimal) and "." not in text:
        text += ".0"  # keep it a decimal literal
    return f"(-{text[1:]})" if text.startswith("-") else text


def unparse(node: n.Node) -> str:
    if isinstance(node, n.Literal):
        return _literal(node)
    if isinstance(node, n.FieldRef):
        return ".".join(node.path)
    if isinstance(node, n.Negate):
        return f"(-{unparse(node.operand)})"
    if isinstance(node, n.Not):
        return f"(not {unparse(node.operand)})"
    if isinstance(node, (n.Arithmetic, n.Compare, n.Logical)):
        return f"({unparse(node.left)} {node.op} {unparse(node.right)})"
    if isinstance(node, n.InList):
        items = ", ".join(unparse(i) for i in node.items)
        return f"({unparse(node.operand)} {'not in' if node.negated else 'in'} [{items}])"
    if isinstance(node, n.IsNull):
        return f"({unparse(node.operand)} is {'not ' if node.negated else ''}null)"
    if isinstance(node, n.Call):
        return f"{node.name}({', '.join(unparse(a) for a in node.args)})"
    raise TypeError(f"not an expression node: {node!r}")
