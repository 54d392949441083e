"""The expression language (a leaf package): grammar, frozen AST, type checker,
Python and SQLAlchemy back ends, function registry.

Rule: imports nothing from metacrm. Built by the expression-language issue;
until then the platform refuses `filter=` and expression-valued metadata is
stored but not evaluated.
"""
