"""Which syntax a file has, and the tree-sitter grammar tables the detectors read.

Grammars come from the individual wheels (``tree-sitter-python`` ...), imported on
first use so a pre-commit run over three files pays only for the grammars it needs.
A missing or broken wheel makes ``parser_for`` return ``None``: the caller falls back
to regex-only for that file and counts it.

Each ``Grammar`` lists node types, not code: which nodes are literal data, which are
comments, which bind a name to a value (and which side is which), which compare.
One walker (``tree.py``) reads every language through these tables.
"""
from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache

# (name side, value side, role): a field name, or the index of a named child (-1: last)
Side = str | int


@dataclass(frozen=True)
class Grammar:
    name: str
    module: str
    function: str = "language"
    family: str = "code"  # "code": values are quoted literals; "data": every scalar is a value
    literals: frozenset[str] = frozenset()  # node types whose text is data
    code_in_literal: frozenset[str] = frozenset()  # interpolations inside a literal: code again
    code_nodes: frozenset[str] = frozenset()  # in "data" grammars: nodes that are syntax, not data
    comments: frozenset[str] = frozenset({"comment"})
    bindings: Mapping[str, tuple[Side, Side, str]] = field(default_factory=dict)
    comparisons: frozenset[str] = frozenset()
    calls: frozenset[str] = frozenset()
    docstrings: bool = False


_JS_BINDINGS = {
    "variable_declarator": ("name", "value", "assignment"),
    "assignment_expression": ("left", "right", "assignment"),
    "pair": ("key", "value", "key"),
    "field_definition": ("property", "value", "assignment"),
    "public_field_definition": ("name", "value", "assignment"),
    "assignment_pattern": ("left", "right", "default"),
    "required_parameter": ("pattern", "value", "default"),
    "optional_parameter": ("pattern", "value", "default"),
}
_JS = {
    "literals": frozenset({"string", "template_string", "number"}),
    "code_in_literal": frozenset({"template_substitution"}),
    "bindings": _JS_BINDINGS,
    "comparisons": frozenset({"binary_expression"}),
    "calls": frozenset({"call_expression", "new_expression"}),
}

GRAMMARS: dict[str, Grammar] = {g.name: g for g in (
    Grammar(
        "python", "tree_sitter_python",
        literals=frozenset({"string", "concatenated_string", "integer", "float"}),
        code_in_literal=frozenset({"interpolation"}),
        bindings={
            "assignment": ("left", "right", "assignment"),
            "keyword_argument": ("name", "value", "argument"),
            "pair": ("key", "value", "key"),
            "default_parameter": ("name", "value", "default"),
            "typed_default_parameter": ("name", "value", "default"),
        },
        comparisons=frozenset({"comparison_operator"}),
        calls=frozenset({"call"}),
        docstrings=True,
    ),
    Grammar("javascript", "tree_sitter_javascript", **_JS),
    Grammar("typescript", "tree_sitter_typescript", "language_typescript", **_JS),
    Grammar("tsx", "tree_sitter_typescript", "language_tsx", **_JS),
    Grammar(
        "java", "tree_sitter_java",
        literals=frozenset({"string_literal", "text_block", "decimal_integer_literal", "character_literal"}),
        comments=frozenset({"line_comment", "block_comment"}),
        bindings={
            "variable_declarator": ("name", "value", "assignment"),
            "assignment_expression": ("left", "right", "assignment"),
            "element_value_pair": ("key", "value", "key"),
        },
        comparisons=frozenset({"binary_expression"}),
        calls=frozenset({"method_invocation", "object_creation_expression"}),
    ),
    Grammar(
        "go", "tree_sitter_go",
        literals=frozenset({"interpreted_string_literal", "raw_string_literal", "int_literal"}),
        bindings={
            "const_spec": ("name", "value", "assignment"),
            "var_spec": ("name", "value", "assignment"),
            "short_var_declaration": ("left", "right", "assignment"),
            "assignment_statement": ("left", "right", "assignment"),
            "keyed_element": ("key", "value", "key"),
        },
        comparisons=frozenset({"binary_expression"}),
        calls=frozenset({"call_expression"}),
    ),
    Grammar(
        "c_sharp", "tree_sitter_c_sharp",
        literals=frozenset({"string_literal", "verbatim_string_literal", "raw_string_literal",
                            "interpolated_string_expression", "integer_literal"}),
        code_in_literal=frozenset({"interpolation"}),
        bindings={
            "variable_declarator": ("name", -1, "assignment"),
            "assignment_expression": ("left", "right", "assignment"),
            "property_declaration": ("name", "value", "assignment"),
        },
        comparisons=frozenset({"binary_expression"}),
        calls=frozenset({"invocation_expression", "object_creation_expression"}),
    ),
    Grammar(
        "bash", "tree_sitter_bash", family="data",
        literals=frozenset({"string", "raw_string", "word", "ansi_c_string", "concatenation", "number"}),
        code_in_literal=frozenset({"simple_expansion", "expansion", "command_substitution",
                                   "arithmetic_expansion", "process_substitution"}),
        bindings={"variable_assignment": ("name", "value", "setting")},
        comparisons=frozenset({"binary_expression"}),
    ),
    Grammar(
        "yaml", "tree_sitter_yaml", family="data",
        literals=frozenset({"plain_scalar", "double_quote_scalar", "single_quote_scalar", "block_scalar",
                            "string_scalar", "integer_scalar", "float_scalar"}),
        code_nodes=frozenset({"tag", "anchor", "alias"}),
        bindings={
            "block_mapping_pair": ("key", "value", "key"),
            "flow_pair": ("key", "value", "key"),
        },
    ),
    Grammar(
        "json", "tree_sitter_json", family="data",
        literals=frozenset({"string", "number"}),
        bindings={"pair": ("key", "value", "key")},
    ),
    Grammar(
        "toml", "tree_sitter_toml", family="data",
        literals=frozenset({"string", "integer"}),
        bindings={"pair": (0, 1, "key")},
    ),
    Grammar(
        "hcl", "tree_sitter_hcl",
        literals=frozenset({"string_lit", "template_literal", "heredoc_template", "numeric_lit"}),
        code_in_literal=frozenset({"template_interpolation", "template_directive"}),
        bindings={
            "attribute": (0, 1, "setting"),
            "object_elem": ("key", "val", "key"),
        },
    ),
    Grammar(
        "dockerfile", "tree_sitter_dockerfile", family="data",
        literals=frozenset({"unquoted_string", "double_quoted_string", "single_quoted_string", "shell_fragment"}),
        code_in_literal=frozenset({"expansion"}),
        bindings={
            "env_pair": ("name", "value", "setting"),
            "arg_instruction": ("name", "default", "setting"),
        },
    ),
)}

# Documentation: not parsed; values there are mostly examples (lower confidence, not silence).
DOCS = "docs"
# Line-oriented formats read by ``lines.py`` (no grammar wheel needed).
LINE_FORMATS = frozenset({"ini", "dotenv", "properties"})
# Configuration rather than program text: a literal there is more often the live value.
DATA_KINDS = LINE_FORMATS | {"hcl"} | {g.name for g in GRAMMARS.values() if g.family == "data"}

_BY_SUFFIX = {
    ".py": "python", ".pyw": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".java": "java", ".go": "go", ".cs": "c_sharp",
    ".sh": "bash", ".bash": "bash", ".zsh": "bash", ".ksh": "bash",
    ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml",
    ".tf": "hcl", ".tfvars": "hcl", ".hcl": "hcl",
    ".dockerfile": "dockerfile",
    ".ini": "ini", ".cfg": "ini", ".env": "dotenv", ".properties": "properties",
    ".md": DOCS, ".markdown": DOCS, ".rst": DOCS, ".adoc": DOCS,
}
_BY_NAME = {
    "dockerfile": "dockerfile", "containerfile": "dockerfile", ".env": "dotenv",
    ".bashrc": "bash", ".bash_profile": "bash", ".profile": "bash", ".zshrc": "bash",
}


@lru_cache(maxsize=4096)
def syntax_for(path: str) -> str | None:
    """The syntax of ``path`` by its name: a grammar name, a line format, ``DOCS`` or ``None``.
    Cached: a history scan asks it of the same few hundred paths in every version."""
    dot = path.rfind(".")
    found = _BY_SUFFIX.get(path[dot:].lower()) if dot > 0 else None
    if found is not None and path[dot - 1] not in "/\\!":
        return found
    name = path[max(path.rfind("/"), path.rfind("\\"), path.rfind("!")) + 1:].lower()
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith(("dockerfile.", "containerfile.")):
        return "dockerfile"
    if name.startswith(".env."):
        return "dotenv"
    if name.startswith(("readme", "changelog", "changes", "history", "pkg-info")):
        return DOCS
    return None


@cache
def parser_for(name: str):
    """A tree-sitter ``Parser`` for grammar ``name``, or ``None`` when its wheel is missing or broken."""
    grammar = GRAMMARS[name]
    try:
        import tree_sitter

        module = importlib.import_module(grammar.module)
        with warnings.catch_warnings():  # older grammar wheels hand over an int pointer
            warnings.simplefilter("ignore", DeprecationWarning)
            language = tree_sitter.Language(getattr(module, grammar.function)())
        return tree_sitter.Parser(language)
    except Exception:  # noqa: BLE001 - ImportError, ABI mismatch: regex-only for this language
        return None


def _stop_at_error(_offset: int, has_error: bool) -> bool:
    return has_error


# The last few trees, by parser and bytes: a history scan judges one blob once per path it
# lives at (``history_paths``), and requests' history holds one test file at 75 paths; the
# same bytes give the same tree, and trees are only read. Keyed by the bytes themselves (a
# hit compares them), so different blobs never share a tree.
RECENT_TREES = 4


@lru_cache(maxsize=RECENT_TREES)
def parse_unless_error(parser, data: bytes):
    """The tree of ``data``, or ``None`` once tree-sitter is recovering from a syntax error.

    A tree with an error is never used (the file stays regex-only), so the parse stops
    when a progress check (every 100 parser operations) finds every parse branch in
    error, instead of running error recovery to the end. Most broken files stop early
    (in a synthetic history of partial Python files, 95% did, at a median 2 KB of 7 KB,
    which cut the parsing time by 45%); the rest end with an error tree, as before.
    tree-sitter reports the error state only to a progress callback, and calls one
    only when the text comes from a read callback: it hands out zero-copy slices.
    """
    view = memoryview(data)
    try:
        return parser.parse(lambda offset, _point: view[offset:], progress_callback=_stop_at_error)
    except ValueError:  # "Parsing failed": the callback stopped it
        parser.reset()  # else the next parse would resume this one
        return None
