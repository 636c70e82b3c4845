"""Which Daft SQL functions a confined user may call: an allow-list of pure functions.

Daft's SQL has functions that reach files and the network from every node — `url_download`
read `file:///etc/passwd` and Tusk's key file, `url_upload` wrote outside the data roots —
and `jq(s, 'env')` returns the worker's environment. Refusing the known-bad ones would let the
next Daft release add another, so the rule is the opposite: a function runs only when it is on
ALLOWED, which was built by hand from Daft's own registry (`daft.daft.list_sql_functions()`,
Daft 0.7.26), keeping the functions that compute from their arguments alone. Every name of the
registry is on ALLOWED or REFUSED (a test holds both lists to the installed Daft), so a new
Daft function is refused until someone looks at it.

The check reads the SQL with sqlglot, its function table emptied so that every call keeps the
name the user typed (sqlglot would otherwise turn aliases into its own names); the calls with
their own syntax (CAST, EXTRACT, CASE, …) and the operators come back as sqlglot's classes,
allowed by class.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tusk.errors import BadInput, PermissionDenied, QueryFailed

_MATH = """
abs arccos arccosh arcsin arcsinh arctan arctan2 arctanh atan2 bin cbrt ceil clip conv cos cosh
cot csc degrees e exp expm1 factorial fill_nan floor hypot is_inf is_nan ln log log10 log1p log2
negate not_nan pi pmod pow power radians random_int round sec sign sin sinh sqrt tan tanh trunc
try_divide
"""
_STRING = """
ascii capitalize chr concat concat_ws contains count_matches damerau_levenshtein_distance
ends_with extract extract_all find hamming_distance hamming_distance_str ilike
jaccard_similarity jaro_similarity jaro_winkler_similarity left length length_bytes
levenshtein_distance like lower lpad lstrip normalize regexp_count regexp_extract
regexp_extract_all regexp_match regexp_replace regexp_split repeat replace reverse right rpad
rstrip soundex space split split_part starts_with strip substr substring_index to_camel_case
to_kebab_case to_snake_case to_title_case to_upper_camel_case to_upper_kebab_case
to_upper_snake_case translate upper url_parse utf8_contains
"""
_DATE = """
add_months convert_time_zone convert_timezone current_date current_timestamp current_timezone
date date_add date_diff date_format date_from_unix_date date_sub date_trunc dateadd datediff
datepart day day_of_month day_of_week day_of_year dayofmonth dayofyear from_unixtime
from_utc_timestamp hour last_day make_date make_timestamp make_timestamp_ltz microsecond
millisecond minute month months_between nanosecond next_day quarter replace_time_zone second
strftime time timestamp_micros timestamp_millis timestamp_seconds to_date to_datetime
to_unix_epoch to_utc_timestamp total_days total_hours total_microseconds total_milliseconds
total_minutes total_nanoseconds total_seconds truncate unix_date week_of_year weekofyear year
"""
_AGGREGATE_WINDOW = """
avg bool_and bool_or count count_distinct dense_rank lag lead max mean median min
pearson_correlation percentile product rank row_number stddev stddev_pop stddev_samp sum var
var_pop var_samp variance
"""
_NESTED = """
array_to_string element explode json_array_length json_object_keys json_tuple list_append
list_bool_and list_bool_or list_chunk list_contains list_count list_count_distinct
list_distinct list_fill list_filter list_flatten list_get list_join list_map list_max list_mean
list_min list_seq list_sort list_sum list_value_counts map_extract map_get map_keys slice
struct struct_extract struct_get to_tensor unnest
"""
_VALUES = """
coalesce cosine_distance cosine_similarity decode deserialize dot_product encode
euclidean_distance great_circle_distance guess_mime_type hash minhash
monotonically_increasing_id serialize simhash to_mode to_string try_decode try_deserialize
try_encode uuid uuid_v7 uuidv7 extract_day_uuid7 extract_hour_uuid7 extract_minute_uuid7
extract_month_uuid7 partitioning_days partitioning_hours partitioning_iceberg_bucket
partitioning_iceberg_truncate partitioning_months partitioning_years
"""

ALLOWED = frozenset(" ".join([_MATH, _STRING, _DATE, _AGGREGATE_WINDOW, _NESTED, _VALUES]).split())

# Daft's functions left off ALLOWED, each with the reason shown to whoever calls one.
_REASONS = {
    "it reads or writes any URL, file:// included": "url_download url_upload",
    "it opens files by path": (
        "file file_exists file_path file_size audio_file video_file image_file hdf5_file "
        "decode_image_file image_file_metadata"
    ),
    "it configures access to object storage": "AzureConfig GCSConfig HTTPConfig S3Config TosConfig",
    "its filters can read the worker's environment (env, $ENV)": "jq",
    "it loads a tokenizer from a path or the internet": "tokenize_encode tokenize_decode",
    "Tusk runs no image decoders on the cluster": (
        "image_attribute image_crop image_decode image_encode image_hash image_resize"
    ),
}
REFUSED = {name.lower(): why for why, names in _REASONS.items() for name in names.split()}

_dialect: Any = None


def _reader() -> Any:
    """A sqlglot dialect that parses every named call as written (exp.Anonymous)."""
    global _dialect
    if _dialect is None:
        from sqlglot import parser
        from sqlglot.dialects.dialect import Dialect

        keep = {"CAST", "TRY_CAST", "EXTRACT", "SUBSTRING", "TRIM", "POSITION"}

        class _AsWritten(Dialect):
            class Parser(parser.Parser):
                FUNCTIONS: ClassVar[dict[str, Any]] = {}  # sqlglot reads class attributes
                FUNCTION_PARSERS = {  # noqa: RUF012 - the calls with keywords inside
                    k: v for k, v in parser.Parser.FUNCTION_PARSERS.items() if k in keep
                }

        _dialect = _AsWritten
    return _dialect


def _syntax() -> tuple[type, ...]:
    """sqlglot's classes for the calls and operators that are SQL syntax, not a name that Daft
    looks up in its registry."""
    from sqlglot import exp

    return (
        exp.Cast,
        exp.TryCast,
        exp.Extract,
        exp.Substring,
        exp.Trim,
        exp.StrPosition,
        exp.Case,
        exp.If,
        exp.Exists,
        exp.CurrentDate,
        exp.CurrentTime,
        exp.CurrentTimestamp,
        exp.Array,
        exp.Struct,
        exp.Binary,  # operators: AND, OR, ||, ^, ->, ~ …
        exp.Unary,
    )


def parse(sql: str) -> list[Any]:
    """The statements of `sql` as sqlglot trees, calls named as written; BadInput if sqlglot
    cannot read it (then Tusk cannot check it, so it is not sent)."""
    import sqlglot

    try:
        return [t for t in sqlglot.parse(sql, read=_reader()) if t is not None]
    except sqlglot.errors.SqlglotError:
        raise BadInput(
            "Tusk could not check which files and functions this SQL uses, so it was not sent.",
            "Cannot check the query",
        ) from None


def check(trees: list[Any]) -> None:
    """Refuse the first function call that is not on ALLOWED, naming it: PermissionDenied
    for one that reaches files, URLs or the environment, QueryFailed for any other."""
    from sqlglot import exp

    syntax = _syntax()
    for tree in trees:
        for call in tree.find_all(exp.Func):
            if isinstance(call, exp.Anonymous):
                name = str(call.name)
                # `schema.fn(…)`: Daft has no function namespaces; never guess what one means.
                if isinstance(call.parent, exp.Dot) and call.parent.expression is call:
                    _refuse(call.parent.sql(), "is a function name with a prefix")
                if name.lower() not in ALLOWED:
                    _refuse(name, "is not on Tusk's list of pure functions", _danger(name))
            elif not isinstance(call, syntax):
                _refuse(call.sql_name().lower(), "is not on Tusk's list of pure functions")


def _danger(name: str) -> str | None:
    """Why a function Tusk knows is refused (None for one it does not know)."""
    if name.lower().startswith("read_"):  # Daft's table functions (read_parquet, read_csv, …)
        return "it reads files directly: add the file as a table instead"
    return REFUSED.get(name.lower())


def _refuse(name: str, what: str, danger: str | None = None) -> None:
    """PermissionDenied for a function known to reach files, URLs or the environment;
    QueryFailed for any other call off the allow-list."""
    called = name if name.endswith(")") else f"{name}()"
    allowed = (
        "Math, text, date, aggregate, window, list and conditional functions are allowed; "
        "files come in as tables."
    )
    if danger is not None:
        raise PermissionDenied(
            f"{called} is not allowed in cluster SQL on this Tusk: {danger}. {allowed}",
            "Function not allowed",
        )
    raise QueryFailed(
        f"{called} {what}, so cluster SQL on this Tusk may not call it. {allowed}",
        "Function not allowed",
    )
