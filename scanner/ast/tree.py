"""Read a tree-sitter syntax tree through a ``Grammar`` table: bindings and roles.

Nothing here walks the whole tree. The detector hands in the byte offsets where the
keyword prefilter saw a credential word, and the walker climbs from the node at each
offset to the binding it names (``password`` in ``password = "..."``); regex matches
are judged by climbing from the node under the match. So the cost after parsing is
proportional to the hits, not to the size of the file.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..regexcache import compile_pattern
from .facts import Binding, Role
from .languages import Grammar
from .names import is_credential_metadata, words

MAX_CLIMB = 8
# Keys of data files whose values are ciphertext, not credentials (``_holds_ciphertext``).
CIPHERTEXT_KEYS = frozenset({"encryptedData"})
_WRAPPERS = frozenset({
    "expression_list", "literal_element", "expression", "literal_value", "flow_node", "block_node",
    "parenthesized_expression", "equals_value_clause", "argument",
})
_LISTS = frozenset({"expression_list", "pattern_list", "tuple_pattern", "tuple"})
_ARGUMENT_LISTS = frozenset({"argument_list", "arguments"})
_COMPARISON_OPERATORS = frozenset({"==", "===", "!=", "!==", "<>", "is", "in", "not in", "is not", "-eq", "-ne", "=~"})
_COMPARING_CALLS = frozenset({"equals", "equalsignorecase", "equal", "compare", "assertequal", "assertequals",
                              "assertnotequal", "assert_equal", "tobe", "toequal", "startswith", "endswith"})
# Calls that store a value under a name: put("password", "..."), os.environ.setdefault(...)
SETTER_CALLS = frozenset({"put", "set", "setproperty", "setdefault", "setenv", "putenv",
                          "setenvironmentvariable", "add", "setitem", "update_env"})
# Lookups whose second argument is a fallback value: os.getenv("TWS_PASSWORD", "...")
DEFAULT_GETTERS = frozenset({"get", "getenv", "getproperty", "getordefault", "environ_get"})
ENV_LOOKUP = compile_pattern(
    rb"(?i)environ|getenv|lookupenv|getenvironmentvariable|process\.env|import\.meta\.env"
    rb"|parameter_store|get_parameter|config\.get")
# Secret stores: indexing one (``st.secrets["API_KEY"]``) or calling one with a lookup verb
# (``get_secret``, ``vault.read``, ``keyring.get_password``) names the secret, never holds it.
SECRET_STORE = compile_pattern(rb"(?i)secret|vault|ssm|keyring|credential")
LOOKUP_VERBS = frozenset({"get", "fetch", "read", "lookup", "load", "retrieve", "access", "resolve", "find"})
_PAIR = compile_pattern(
    rb"""(?:^|(?<=[\s?&;,'"(\[{|]))(?:--?)?(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=[ \t]*"""
    rb"""(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s&;,'"#(){}\[\]|<>]+(?![(\[{.\w]))""")
_FLEX_TOKEN = compile_pattern(rb"[?&]t=(?P<value>[0-9]{8,40})")
_WORD = compile_pattern(rb"\w+")


class TreeDocument:
    """One parsed file: answers "which literal is bound to this name" and "what is under this match"."""

    def __init__(self, grammar: Grammar, data: bytes, tree) -> None:
        self.grammar = grammar
        self.data = data
        self.root = tree.root_node

    @property
    def has_error(self) -> bool:
        return self.root.has_error

    # --- bindings ----------------------------------------------------------------

    def bindings(self, offsets: Iterable[int]) -> Iterator[Binding]:
        seen: set[tuple[int, int]] = set()
        for offset in offsets:
            node = self.root.named_descendant_for_byte_range(offset, offset + 1)
            if node is None:
                continue
            for binding in self._bindings_at(node, offset):
                if (binding.start, binding.end) not in seen:
                    seen.add((binding.start, binding.end))
                    yield binding

    def _bindings_at(self, node, offset: int) -> list[Binding]:
        found = self._named_binding(node, offset)
        if found is not None:
            return [found]
        literal = self._enclosing_literal(node)
        if literal is None:
            return []
        found = self._call_argument_binding(literal) or self._terraform_variable_default(literal)
        if found is not None:
            return [found]
        return list(self._embedded(literal))

    def _named_binding(self, node, offset: int) -> Binding | None:
        """Climb from the node under a keyword to a binding whose name side ends with it."""
        bindings = self.grammar.bindings
        current = node
        for _ in range(MAX_CLIMB):
            parent = current.parent
            if parent is None:
                return None
            spec = bindings.get(parent.type)
            if spec is not None:
                name_side, value_side = _side(parent, spec[0]), _side(parent, spec[1])
                if name_side is None or not name_side.start_byte <= offset < name_side.end_byte:
                    return None
                return self._binding(parent, spec[2], node, name_side, value_side, offset)
            current = parent
        return None

    def _binding(self, parent, role: str, leaf, name_side, value_side, offset: int) -> Binding | None:
        if value_side is None or not self._is_last_name(leaf, name_side):
            return None
        if name_side.type in _LISTS and value_side.type in _LISTS:
            names, values = name_side.named_children, value_side.named_children
            index = next((i for i, n in enumerate(names) if n.start_byte <= offset < n.end_byte), None)
            if index is None or len(names) != len(values):
                return None
            value_side = values[index]
        value = self._literal_value(value_side)
        if value is None:
            return None
        if self.grammar.family == "data" and self._holds_ciphertext(parent):
            return None
        name = self._text(leaf) if leaf.type not in self.grammar.literals else self._text_span(*self._content(leaf))
        callee = ""
        if role == "argument" and parent.parent is not None and parent.parent.parent is not None:
            callee = self.callee(parent.parent.parent)
        return Binding(name, value[0], value[1], role, callee, self._in_test(parent))

    def _holds_ciphertext(self, pair) -> bool:
        """A value under a key that holds ciphertext only its owner can decrypt: a Bitnami
        SealedSecret's ``spec.encryptedData`` (the cluster's controller holds the key)."""
        node = pair.parent
        for _ in range(MAX_CLIMB):
            if node is None:
                return False
            spec = self.grammar.bindings.get(node.type)
            if spec is not None:
                key = _side(node, spec[0])
                if key is not None and self._text(key).strip("\"' ") in CIPHERTEXT_KEYS:
                    return True
            node = node.parent
        return False

    def _is_last_name(self, leaf, name_side) -> bool:
        """``password`` in ``self.password`` or ``cfg["password"]``, not in ``password.value``."""
        tail = self.data[leaf.end_byte:name_side.end_byte]
        return not tail.strip(b"\"'`]) \t")

    def _call_argument_binding(self, literal) -> Binding | None:
        """``props.put("password", "...")`` and ``os.getenv("TWS_PASSWORD", "...")``."""
        arguments = _unwrap_up(literal)
        if arguments is None or arguments.parent is None:
            return None
        callee = self.callee(arguments.parent).lower()
        if callee not in SETTER_CALLS and callee not in DEFAULT_GETTERS:
            return None
        args = [a for a in arguments.named_children if a.type not in self.grammar.comments]
        index = next((i for i, a in enumerate(args) if a.start_byte <= literal.start_byte < a.end_byte), None)
        if index is None or index + 1 >= len(args):
            return None
        value = self._literal_value(args[index + 1])
        if value is None:
            return None
        role = "setter" if callee in SETTER_CALLS else "default"
        name = self._text_span(*self._content(literal))
        return Binding(name, value[0], value[1], role, callee, self._in_test(arguments))

    def _embedded(self, literal) -> Iterator[Binding]:
        """``NAME=value`` pairs in a literal; not in docstrings, not across an interpolation."""
        if self._literal_role(literal) is Role.DOCSTRING:
            return
        code = [(n.start_byte, n.end_byte) for n in _descendants(literal, self.grammar.code_in_literal)]
        start, end = self._content(literal)
        for binding in embedded_bindings(self.data, start, end, self._in_test(literal)):
            if not any(lo < binding.end and binding.start < hi for lo, hi in code):
                yield binding

    # --- IBKR client calls -------------------------------------------------------------

    def calls_named(self, name: bytes, limit: int = 200) -> Iterator:
        """Call nodes whose callee is ``name``, found from ``name(`` in the source."""
        needle = name + b"("
        pos = self.data.find(needle)
        count = 0
        while pos >= 0 and count < limit:
            count += 1
            node = self.root.named_descendant_for_byte_range(pos, pos + 1)
            for _ in range(4):
                if node is None:
                    break
                if node.type in self.grammar.calls:
                    if self.callee(node).encode() == name:
                        yield node
                    break
                node = node.parent
            pos = self.data.find(needle, pos + 1)

    def positional_literals(self, call) -> list[tuple[int, int] | None]:
        arguments = call.child_by_field_name("arguments")
        if arguments is None:
            return []
        out: list[tuple[int, int] | None] = []
        for arg in arguments.named_children:
            if arg.type in self.grammar.comments or arg.type in ("keyword_argument", "list_splat", "dictionary_splat"):
                continue
            out.append(self._literal_value(arg))
        return out

    def callee(self, call) -> str:
        function = call.child_by_field_name("function") or call.child_by_field_name("name") \
            or call.child_by_field_name("type")
        if function is None:
            return ""
        words = _WORD.findall(self.data[function.start_byte:function.end_byte])
        return words[-1].decode("latin-1") if words else ""

    # --- roles of regex matches --------------------------------------------------------

    def role_at(self, start: int, end: int) -> Role:
        node = self.root.named_descendant_for_byte_range(start, max(start, end - 1) + 1)
        grammar = self.grammar
        if node is not None and node.type.endswith("identifier") and node.child_count == 0 \
                and self.data.count(self.data[node.start_byte:node.end_byte]) == 1:
            return Role.UNQUOTED
        while node is not None:
            kind = node.type
            if kind in grammar.comments:
                return Role.COMMENT
            if kind == "ERROR":
                return Role.UNKNOWN
            if kind in grammar.code_in_literal or kind in grammar.code_nodes:
                return Role.CODE
            if kind in grammar.literals:
                while node.parent is not None and node.parent.type in grammar.literals:
                    node = node.parent
                return self._literal_role(node)
            node = node.parent
        return Role.CODE if grammar.family == "code" else Role.UNKNOWN

    def _literal_role(self, literal) -> Role:
        parent = literal.parent
        if self.grammar.docstrings and parent is not None and parent.type == "expression_statement" \
                and parent.named_child_count == 1:
            return Role.DOCSTRING
        node = literal
        for _ in range(4):
            parent = node.parent
            if parent is None:
                break
            if parent.type in self.grammar.comparisons and self._is_comparison(parent):
                return Role.COMPARISON
            if parent.type in self.grammar.calls:
                callee = self.callee(parent).lower()
                if callee in _COMPARING_CALLS:
                    return Role.COMPARISON
                first = _first_argument(parent)
                if first is not None and first.start_byte <= literal.start_byte < first.end_byte \
                        and is_lookup(self._callee_text(parent)):
                    return Role.ENV_NAME
                break
            if parent.type in ("subscript", "subscript_expression", "element_access_expression", "index_expression"):
                target = parent.named_children[0] if parent.named_child_count else None
                text = self.data[target.start_byte:target.end_byte] if target is not None else b""
                if ENV_LOOKUP.search(text) or SECRET_STORE.search(text):
                    return Role.ENV_NAME
                break
            if parent.type not in _ARGUMENT_LISTS and parent.type not in _WRAPPERS \
                    and parent.type not in ("concatenated_string", "tuple", "list", "array", "set"):
                break
            node = parent
        name = self._bound_name(literal)
        return Role.METADATA if name and is_credential_metadata(name) else Role.LITERAL

    def _callee_text(self, call) -> bytes:
        """The call up to its argument list: ``os.environ.get``, ``new SecretKey``, ``System.getenv``."""
        arguments = call.child_by_field_name("arguments")
        if arguments is not None:
            return self.data[call.start_byte:arguments.start_byte]
        function = call.child_by_field_name("function")
        return self.data[function.start_byte:function.end_byte] if function is not None else b""

    def _bound_name(self, literal) -> str | None:
        """The name a literal is the value of (``token_type`` in ``token_type = "Bearer"``), if any."""
        node = literal
        for _ in range(4):
            parent = node.parent
            if parent is None:
                return None
            spec = self.grammar.bindings.get(parent.type)
            if spec is not None:
                value_side = _side(parent, spec[1])
                name_side = _side(parent, spec[0])
                if value_side is None or name_side is None or value_side.start_byte > literal.start_byte:
                    return None
                words = _WORD.findall(self.data[name_side.start_byte:name_side.end_byte])
                return words[-1].decode("latin-1") if words else None
            if parent.type not in _WRAPPERS:
                return None
            node = parent
        return None

    def _is_comparison(self, node) -> bool:
        operator = node.child_by_field_name("operator")
        if operator is None:
            return node.type == "comparison_operator"
        return self._text(operator).strip() in _COMPARISON_OPERATORS

    # --- helpers ---------------------------------------------------------------------------

    def _enclosing_literal(self, node):
        literals = self.grammar.literals
        outermost = None
        for _ in range(MAX_CLIMB):
            if node is None:
                break
            if node.type in literals:
                outermost = node
            elif outermost is not None:
                break
            node = node.parent
        return outermost

    def _literal_value(self, node) -> tuple[int, int] | None:
        """Byte span of a pure literal's content (no interpolation), or ``None`` for code."""
        while node.type in _WRAPPERS and node.named_child_count == 1:
            node = node.named_children[0]
        if node.type not in self.grammar.literals or node.type == "concatenated_string":
            return None
        if self.grammar.code_in_literal and _contains(node, self.grammar.code_in_literal):
            return None
        return self._content(node)

    def _content(self, node) -> tuple[int, int]:
        """The literal without quotes, prefixes and YAML block headers."""
        if node.type == "block_scalar":
            newline = self.data.find(b"\n", node.start_byte, node.end_byte)
            start = newline + 1 if newline >= 0 else node.end_byte
            while start < node.end_byte and self.data[start] in b" \t":
                start += 1
            end = node.end_byte
            while end > start and self.data[end - 1] in b" \t\r\n":
                end -= 1
            return start, end
        return _strip_quotes(self.data, node.start_byte, node.end_byte)

    def _in_test(self, node) -> bool:
        for _ in range(40):
            node = node.parent
            if node is None:
                return False
            if node.type.endswith(("function_definition", "method_declaration", "function_declaration",
                                   "class_definition", "class_declaration")):
                name = node.child_by_field_name("name")
                if name is not None:
                    text = self._text(name)
                    if text.lower().startswith("test") or text.endswith(("Test", "Tests")):
                        return True
        return False

    def _terraform_variable_default(self, label) -> Binding | None:
        """``variable "db_password" { default = "..." }``: the label names the default's value."""
        block = label.parent
        if self.grammar.name != "hcl" or block is None or block.type != "block" or block.named_child_count < 2 \
                or self._text(block.named_children[0]) != "variable" or block.named_children[1] != label:
            return None
        body = next((c for c in block.named_children if c.type == "body"), None)
        for attribute in body.named_children if body is not None else ():
            if attribute.type == "attribute" and self._text(attribute.named_children[0]) == "default":
                value = self._literal_value(attribute.named_children[1])
                if value is not None:
                    return Binding(self._text_span(*self._content(label)), value[0], value[1], "setting")
        return None

    def _text(self, node) -> str:
        return self._text_span(node.start_byte, node.end_byte)

    def _text_span(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "replace")


def is_lookup(callee: bytes) -> bool:
    """``os.getenv``, ``get_secret``, ``vault.read``, ``keyring.get_password``: a call that asks for a
    value by name, so its first argument is a name. A store's noun alone is not a lookup:
    ``new SecretKey("PK...", "...")`` and ``Credentials("PK...", "...")`` take the secret itself."""
    if ENV_LOOKUP.search(callee):
        return True
    return bool(SECRET_STORE.search(callee)) and not LOOKUP_VERBS.isdisjoint(words(callee.decode("latin-1")))


def _side(node, side):
    if isinstance(side, str):
        return node.child_by_field_name(side)
    children = node.named_children
    if side == -1:
        return children[-1] if len(children) > 1 else None
    return children[side] if len(children) > side else None


def _unwrap_up(literal):
    """The argument list a literal sits in (through C# ``argument`` wrappers), or ``None``."""
    node = literal.parent
    while node is not None and node.type in _WRAPPERS:
        node = node.parent
    return node if node is not None and node.type in _ARGUMENT_LISTS else None


def _first_argument(call):
    arguments = call.child_by_field_name("arguments")
    if arguments is None or not arguments.named_child_count:
        return None
    return arguments.named_children[0]


def _contains(node, types: frozenset[str]) -> bool:
    return next(_descendants(node, types), None) is not None


def _descendants(node, types: frozenset[str]) -> Iterator:
    """Descendants of ``node`` of the given types (not below them)."""
    if not types:
        return
    stack = list(node.children)
    while stack:
        child = stack.pop()
        if child.type in types:
            yield child
        else:
            stack.extend(child.children)


_QUOTES = (b'"""', b"'''", b'"', b"'", b"`")


def _strip_quotes(data: bytes, start: int, end: int) -> tuple[int, int]:
    i = start
    while i < end and i - start < 2 and data[i:i + 1] in (b"r", b"R", b"b", b"B", b"u", b"U", b"f", b"F", b"@", b"$"):
        i += 1
    for quote in _QUOTES:
        if data.startswith(quote, i) and end - i >= 2 * len(quote) and data[end - len(quote):end] == quote:
            return i + len(quote), end - len(quote)
    return start, end


def embedded_bindings(data: bytes, start: int, end: int, in_test: bool = False) -> Iterator[Binding]:
    """``NAME=value`` inside one literal: compose ``- TWS_PASSWORD=...``, ``docker run -e``, URL queries."""
    text = data[start:end]
    is_url = b"://" in text[:16]
    flex: set[int] = set()
    if b"flexwebservice" in text.lower():  # Flex Web Service: the query parameter ``t`` is the token
        for m in _FLEX_TOKEN.finditer(text):
            flex.add(m.start("value"))
            yield Binding("FLEX_TOKEN", start + m.start("value"), start + m.end("value"), "url", "", in_test)
    for m in _PAIR.finditer(text):
        v_start, v_end = m.span("value")
        if v_start in flex:
            continue
        if text[v_start:v_start + 1] in (b'"', b"'"):
            v_start, v_end = v_start + 1, v_end - 1
        role = "url" if is_url and b"?" in text[:m.start("name")] else "embedded"
        yield Binding(m.group("name").decode("latin-1"), start + v_start, start + v_end, role, "", in_test)
