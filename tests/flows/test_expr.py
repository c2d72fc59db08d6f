"""Expressions, constructors and Choice conditions."""

from __future__ import annotations

from typing import Any

import pytest

from flows._condition import parse_condition
from flows._errors import ExpressionError
from flows._expr import Scope, compile_template, parse_expression


def scope(inp: Any = None, **kw: Any) -> Scope:
    return Scope(input=inp, execution_name="exec-1", execution_input={"task_id": "t9"}, state="S", **kw)


def test_paths_keys_indexes_and_quoted_keys() -> None:
    data = {"a": {"b": [10, {"c": "deep"}]}, "odd.key": 1}
    assert parse_expression("$Input").render(scope(data)) == data
    assert parse_expression("$Input.a.b[0]").render(scope(data)) == 10
    assert parse_expression("$Input.a.b[1].c").render(scope(data)) == "deep"
    assert parse_expression("$Input.a.b[-1].c").render(scope(data)) == "deep"
    assert parse_expression('$Input["odd.key"]').render(scope(data)) == 1


def test_context_fields() -> None:
    s = scope({"x": 1}, output={"Body": 2}, error={"Code": "E", "Detail": "d"}, retry_count=2)
    assert parse_expression("$Context.Execution.Name").render(s) == "exec-1"
    assert parse_expression("$Context.Execution.Input.task_id").render(s) == "t9"
    assert parse_expression("$Context.Current.Name").render(s) == "S"
    assert parse_expression("$Context.Current.Input.x").render(s) == 1
    assert parse_expression("$Context.Current.Output.Body").render(s) == 2
    assert parse_expression("$Context.Current.Error").render(s) == {"Code": "E", "Detail": "d"}
    assert parse_expression("$Context.Current.RetryCount").render(s) == 2
    assert parse_expression("$Output.Body").render(s) == 2


def test_missing_key_names_expression_and_what_was_there() -> None:
    with pytest.raises(ExpressionError) as err:
        parse_expression("$Input.video.id").render(scope({"video": {"name": "a", "size": 3}}))
    msg = str(err.value)
    assert "$Input.video.id" in msg and "key 'id' not found" in msg and "[name, size]" in msg


def test_index_out_of_range_and_field_of_scalar() -> None:
    with pytest.raises(ExpressionError, match=r"index 5 not found: \$Input.items is a list of length 2"):
        parse_expression("$Input.items[5]").render(scope({"items": [1, 2]}))
    with pytest.raises(ExpressionError, match=r"key 'x' not found: \$Input.n is a int"):
        parse_expression("$Input.n.x").render(scope({"n": 3}))


def test_output_outside_output_constructor() -> None:
    with pytest.raises(ExpressionError, match="only available inside an OutputConstructor"):
        parse_expression("$Output.Body").render(scope({}))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Input.a", "must start with"),
        ("$Inputs.a", "unknown root"),
        ("$Input.a..b", "cannot parse"),
        ("$Input.a[x]", "cannot parse"),
        ("$Context.Foo", "unknown $Context field"),
    ],
)
def test_malformed_expressions(text: str, why: str) -> None:
    with pytest.raises(ExpressionError) as err:
        parse_expression(text)
    assert why in str(err.value) and text in str(err.value)


def test_constructor_evaluates_dollar_keys_recursively_and_copies_literals() -> None:
    template = compile_template(
        {
            "task_id.$": "$Context.Execution.Input.task_id",
            "nested": {"first.$": "$Input.ids[0]", "fixed": 1},
            "list": [{"v.$": "$Input.ids[1]"}, "plain"],
            "literal": {"keep": [1, 2]},
        }
    )
    out = template.render(scope({"ids": ["a", "b"]}))
    assert out == {
        "task_id": "t9",
        "nested": {"first": "a", "fixed": 1},
        "list": [{"v": "b"}, "plain"],
        "literal": {"keep": [1, 2]},
    }
    out["literal"]["keep"].append(3)  # a caller mutating its result must not change the template
    assert template.render(scope({"ids": ["a", "b"]}))["literal"] == {"keep": [1, 2]}


def test_constructor_rejects_bad_expression_and_duplicate_key() -> None:
    with pytest.raises(ExpressionError, match="must start with"):
        compile_template({"a.$": "Input.a"})
    with pytest.raises(ExpressionError, match="given both literally"):
        compile_template({"a": 1, "a.$": "$Input"})
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_template({"a.$": {"b": 1}})


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("$Input.n > 3", True),
        ("$Input.n <= 3", False),
        ("$Input.kind == 'video'", True),
        ('$Input.kind != "video"', False),
        ("$Input.n >= 4 && $Input.kind == 'video'", True),
        ("$Input.n < 0 || $Input.flag", True),
        ("!$Input.flag", False),
        ("!($Input.n == 4) || $Input.none == null", True),
        ("$Input.flag == 1", False),  # true never equals 1
        ("$Input.items[1] == 'b'", True),
        ("$Input.empty", False),
        ("$Input.name < 'b'", True),
        ("$Context.Execution.Input.task_id == 't9'", True),
        # the operators of the vendor's Choice page: backtick strings, prefix -, in
        ("$Input.kind == `video`", True),
        ("-$Input.n < -3", True),
        ("'a' in $Input.items", True),
        ("'z' in $Input.items", False),
        ("'kind' in $Input", True),
        ("!('none' in $Input) || $Input.n > 3", True),
        # built-in functions as operands
        ("length($Input.items) == 2 && length(split('x,)', ',')) == 2", True),
        ("arrayContains($Input.items, 'b')", True),
    ],
)
def test_conditions(condition: str, expected: bool) -> None:
    data = {"n": 4, "kind": "video", "flag": True, "none": None, "items": ["a", "b"], "empty": []}
    data["name"] = "a"
    assert bool(parse_condition(condition)(scope(data))) is expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "$Input.n >",
        "$Input.n > > 3",
        "($Input.n",
        "$Input.n = 3",
        "3 3",
        "length($Input",
        "nope(1) == 1",
        "in",
    ],
)
def test_malformed_conditions(text: str) -> None:
    with pytest.raises(ExpressionError):
        parse_condition(text)


def test_in_needs_a_container_and_minus_a_number() -> None:
    with pytest.raises(ExpressionError, match="'in' needs an array or an object"):
        parse_condition("'a' in $Input.n")(scope({"n": 1}))
    with pytest.raises(ExpressionError, match="'-' needs a number"):
        parse_condition("-$Input.s < 0")(scope({"s": "x"}))


def test_ordering_mixed_types_is_an_error() -> None:
    with pytest.raises(ExpressionError, match="cannot order"):
        parse_condition("$Input.n > 'x'")(scope({"n": 1}))


# The usage and output examples of the vendor's "Built-in functions" page
# (https://help.aliyun.com/document_detail/2579872.html), plus the project's own.
@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('arrayContains(["Tom",10],10)', True),
        ('arrayContains(["Tom",10],"Jack")', False),
        ("arrayContains([1], true)", False),  # true is not 1
        ("arrayUnique([1, 2, 3, 1])", [1, 2, 3]),
        ('format("hello {}","world")', "hello world"),
        ('fromBase64("Rm5G")', "FnF"),
        ('toBase64("FnF")', "Rm5G"),
        ("""stringToJson('{"name": "Tom", "age": 10}')""", {"name": "Tom", "age": 10}),
        ("""fromJSON('{"name": "Tom", "age": 10}')""", {"name": "Tom", "age": 10}),
        ('hash("abc","MD5")', "900150983cd24fb0d6963f7d28e17f72"),
        (
            'jsonMerge({"name": "Tom", "age": 10},{"name": "Tom", "address": "beijing"})',
            {"name": "Tom", "age": 10, "address": "beijing"},
        ),
        ("length([1, 2, 3])", 3),
        ('length({"name": "Tom", "age": 10})', 2),
        ('length("name")', 4),
        ('mapKeys({"b": 1, "a": 2})', ["a", "b"]),
        ('mapValues({"b": 1, "a": 2})', [2, 1]),
        ("split('a,b,,c', ',')", ["a", "b", "", "c"]),
        ("regexMatchString('^v[0-9]+$', 'v12')", True),
        ("regexMatchString('^v[0-9]+$', 'x12')", False),
        ("toArray(1, 'a', null, true)", [1, "a", None, True]),
        ("get(toArray('x', 'y'), -1)", "y"),
        ("get({'k': 'v'}, 'k')".replace("'k': 'v'", '"k": "v"'), "v"),
        ("intAdd(40, 2)", 42),
        ('jsonToString({"a": [1, "中"]})', '{"a":[1,"中"]}'),
        ("format('{}/{}/{}', 1.0, true, toArray(1))", "1/true/[1]"),
        ("format('{}-part-{}', $Context.Execution.Input.task_id, $Input.n)", "t9-part-3"),
        ("length(" + "toArray(" * 9 + "1" + ")" * 10, 1),
    ],
)
def test_built_in_functions(expr: str, expected: Any) -> None:
    assert parse_expression(expr).render(scope({"n": 3})) == expected


def test_uuid_and_random_int() -> None:
    assert len({parse_expression("uuid()").render(scope()) for _ in range(3)}) == 3
    values = {parse_expression("randomInt(1, 3)").render(scope()) for _ in range(60)}
    assert values == {1, 2}


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("format('{} {}', 1)", "the template has 2 placeholder(s) {} but 1 value(s) follow"),
        ("get(toArray(1), 3)", "index 3 is out of range for an array of length 1"),
        ("get($Input, 'zz')", "key 'zz' not found; the map has [n]"),
        ("length(3)", "length(): argument 1 must be array or map or string, got number"),
        ("intAdd('1', 2)", "intAdd(): argument 1 must be an integer"),
        ("stringToJson('{')", "stringToJson(): not valid JSON"),
        ("hash('a', 'CRC32')", "hash(): algorithm must be one of MD5, SHA-1, SHA-256, SHA-512"),
        ("fromBase64('***')", "is not Base64"),
        ("randomInt(3, 3)", "must be greater than the lower bound"),
        ("regexMatchString('(', 'x')", "invalid pattern"),
        ("length($Input.missing)", "key 'missing' not found"),
    ],
)
def test_built_in_errors_name_the_function_and_the_expression(expr: str, message: str) -> None:
    with pytest.raises(ExpressionError) as err:
        parse_expression(expr).render(scope({"n": 3}))
    assert message in str(err.value) and f"expression {expr!r}" in str(err.value)


def test_a_constructor_evaluates_calls() -> None:
    template = compile_template({"name.$": "format('{}-part-{}', $Input.task, $Input.n)", "n.$": "$Input.n"})
    assert template.render(scope({"task": "t1", "n": 0})) == {"name": "t1-part-0", "n": 0}
