"""The rule expression language: tokens and a recursive-descent parser.

    expr     := or
    or       := and ('or' and)*
    and      := not ('and' not)*
    not      := 'not' not | compare
    compare  := sum (('>' | '<' | '>=' | '<=' | '==' | '!=') sum)?
    sum      := product (('+' | '-') product)*
    product  := unary (('*' | '/') unary)*
    unary    := '-' unary | primary
    primary  := NUMBER[unit] | '(' expr ')' | call | selector
    call     := NAME '(' expr (',' expr)* ')' ('by' '(' NAME (',' NAME)* ')')?
    selector := NAME ('{' matcher (',' matcher)* '}')? ('[' DURATION ']' ('offset' DURATION)?)?
    matcher  := NAME ('=' | '!=' | '=~' | '!~') STRING

Units: ``500ms 2s 5m 1h 14d 1w`` are seconds, ``80%`` is 0.8. There is no
``eval``: the parser builds the frozen nodes of :mod:`sentinel.rules.tree`, and
errors name the column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sentinel.rules.tree import (
    FUNCTIONS,
    Binary,
    Call,
    ExprError,
    Matcher,
    Node,
    Number,
    Selector,
    Unary,
    check_call,
    height,
)

KEYWORDS = {"and", "or", "not", "by", "offset"}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?(?:ms|s|m|h|d|w|%)?(?![A-Za-z_]))
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>=~|!~|==|!=|>=|<=|[-+*/><=(){}\[\],])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    col: int


def tokenize(text: str) -> list[Token]:
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExprError(f"unexpected character {text[pos]!r}", pos + 1)
        kind = m.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, m.group(), pos + 1))
        pos = m.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def number_value(text: str, col: int) -> float:
    if text.endswith("%"):
        return float(text[:-1]) / 100
    if text[-1].isalpha():
        from sentinel.config.units import parse_duration  # the config imports this module

        try:
            return parse_duration(text)
        except ValueError:
            raise ExprError(f"invalid duration {text!r}", col) from None
    return float(text)


MAX_TOKENS = 1000  # a real rule has a few dozen
MAX_DEPTH = 40  # parentheses, arguments, unary minus and not, nested while parsing
MAX_HEIGHT = 100  # levels in the tree (the evaluator recurses), long chains of + or and included
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def unquote(text: str) -> str:
    """A quoted label value's content. Backslash before a double quote, a backslash,
    n or t is an escape; any other backslash stays, so a regex gets its own escapes
    (backslash-d, backslash-dot) as written."""
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), text[1:-1])


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        if len(self.tokens) > MAX_TOKENS:
            raise ExprError(
                f"expression longer than {MAX_TOKENS} tokens", self.tokens[MAX_TOKENS].col
            )
        self.i = 0
        self.depth = 0

    def nested(self, col: int) -> None:
        """One level deeper; refused past MAX_DEPTH (the evaluator recurses too)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_DEPTH} levels", col)

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        if self.tok.text == text and self.tok.kind in ("op", "name"):
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> Token:
        if self.tok.text != text:
            found = self.tok.text or "end of expression"
            raise ExprError(f"expected {text!r}, found {found!r}", self.tok.col)
        return self.take()

    def parse(self) -> Node:
        node = self.or_()
        if self.tok.kind != "end":
            raise ExprError(f"unexpected {self.tok.text!r}", self.tok.col)
        return node

    def chain(self, operand: Callable[[], Node], kind: str, ops: tuple[str, ...]) -> Node:
        """``operand (op operand)*`` for the ``ops`` given, left-associative."""
        node = operand()
        while self.tok.kind == kind and self.tok.text in ops:
            tok = self.take()
            node = Binary(tok.text, node, operand(), tok.col)
        return node

    def or_(self) -> Node:
        return self.chain(self.and_, "name", ("or",))

    def and_(self) -> Node:
        return self.chain(self.not_, "name", ("and",))

    def prefix(
        self, kind: str, op: str, operand: Callable[[], Node], otherwise: Callable[[], Node]
    ) -> Node:
        """``op operand | otherwise``: a prefix operator, each one a level deeper."""
        if self.tok.kind != kind or self.tok.text != op:
            return otherwise()
        col = self.take().col
        self.nested(col)
        node = Unary(op, operand(), col)
        self.depth -= 1
        return node

    def not_(self) -> Node:
        return self.prefix("name", "not", self.not_, self.compare)

    def compare(self) -> Node:
        node = self.sum_()
        if self.tok.kind == "op" and self.tok.text in (">", "<", ">=", "<=", "==", "!="):
            tok = self.take()
            node = Binary(tok.text, node, self.sum_(), tok.col)
        return node

    def sum_(self) -> Node:
        return self.chain(self.product, "op", ("+", "-"))

    def product(self) -> Node:
        return self.chain(self.unary, "op", ("*", "/"))

    def unary(self) -> Node:
        return self.prefix("op", "-", self.unary, self.primary)

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.take()
            return Number(number_value(tok.text, tok.col), tok.col)
        if tok.kind == "op" and tok.text == "(":
            self.take()
            self.nested(tok.col)
            node = self.or_()
            self.expect(")")
            self.depth -= 1
            return node
        if tok.kind == "name" and tok.text not in KEYWORDS:
            self.take()
            if self.tok.text == "(" and self.tok.kind == "op":
                return self.call(tok)
            return self.selector(tok)
        found = tok.text or "end of expression"
        raise ExprError(f"expected a number, a sample or a function, found {found!r}", tok.col)

    def call(self, name: Token) -> Call:
        if name.text not in FUNCTIONS:
            raise ExprError(f"unknown function {name.text!r}", name.col)
        self.expect("(")
        self.nested(name.col)
        args = [self.or_()]
        while self.accept(","):
            args.append(self.or_())
        self.expect(")")
        self.depth -= 1
        by: tuple[str, ...] | None = None
        if self.tok.text == "by" and self.tok.kind == "name":
            self.take()
            self.expect("(")
            labels = [self.label_name()]
            while self.accept(","):
                labels.append(self.label_name())
            self.expect(")")
            by = tuple(labels)
        return check_call(Call(name.text, tuple(args), by, name.col))

    def label_name(self) -> str:
        tok = self.take()
        if tok.kind != "name":
            raise ExprError(f"expected a label name, found {tok.text!r}", tok.col)
        return tok.text

    def selector(self, name: Token) -> Selector:
        matchers: list[Matcher] = []
        if self.accept("{"):
            while not self.accept("}"):
                label = self.label_name()
                op = self.take()
                if op.text not in ("=", "!=", "=~", "!~"):
                    raise ExprError(f"expected =, !=, =~ or !~, found {op.text!r}", op.col)
                value_tok = self.take()
                if value_tok.kind != "string":
                    raise ExprError("expected a quoted label value", value_tok.col)
                value = unquote(value_tok.text)
                pattern = None
                if op.text in ("=~", "!~"):
                    try:
                        pattern = re.compile(value)
                    except re.error as exc:
                        from sentinel.config.quote import shown  # the config imports this module

                        raise ExprError(
                            f"invalid regex {shown(value)}: {exc}", value_tok.col
                        ) from None
                    except (RecursionError, OverflowError):  # groups nested hundreds deep
                        raise ExprError("invalid regex: nested too deeply", value_tok.col) from None
                matchers.append(Matcher(label, op.text, value, pattern))
                if not self.accept(","):
                    self.expect("}")
                    break
        window: float | None = None
        offset = 0.0
        if self.accept("["):
            tok = self.take()
            if tok.kind != "number" or not tok.text[-1].isalpha():
                raise ExprError("expected a duration such as 5m", tok.col)
            window = number_value(tok.text, tok.col)
            self.expect("]")
        if self.tok.text == "offset" and self.tok.kind == "name":
            self.take()
            tok = self.take()
            if tok.kind != "number":
                raise ExprError("expected a duration after offset", tok.col)
            offset = number_value(tok.text, tok.col)
        return Selector(name.text, tuple(matchers), window, offset, name.col)


def parse(text: str) -> Node:
    """The tree of ``text``; raises ExprError naming the column of the first problem."""
    node = Parser(text).parse()
    if height(node) > MAX_HEIGHT:  # a chain such as 1 + 1 + ... + 1 is as deep as it is long
        raise ExprError(f"expression nested deeper than {MAX_HEIGHT} levels", 1)
    return node
