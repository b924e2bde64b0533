//! `successCondition` / `failureCondition` evaluation, checked against Argo Rollouts' behaviour
//! (`utils/evaluate/evaluate.go` and its tests) and the pitfalls its users meet.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serin_api::AnalysisPhase;
use serin_planner::analysis::MetricValue;
use serin_planner::analysis::condition::{ConditionError, ConditionField, MAX_EXPRESSION_BYTES, check, evaluate};

// === fixtures ===

fn vector(values: &[f64]) -> MetricValue {
    MetricValue::floats(values.iter().copied())
}

fn json(text: &str) -> MetricValue {
    MetricValue::from(&serde_json::from_str::<serde_json::Value>(text).unwrap())
}

fn string(text: &str) -> MetricValue {
    MetricValue::String(text.to_owned())
}

/// The phase of a measurement judged by a success condition alone.
fn success(expression: &str, value: &MetricValue) -> Result<AnalysisPhase, ConditionError> {
    evaluate(Some(expression), None, value)
}

/// Whether `expression` holds for `value`, panicking with the error if it cannot be evaluated.
fn holds(expression: &str, value: &MetricValue) -> bool {
    match success(expression, value) {
        Ok(AnalysisPhase::Successful) => true,
        Ok(AnalysisPhase::Failed) => false,
        other => panic!("{expression} on {value}: {other:?}"),
    }
}

/// The message of the error `expression` gives for `value`.
fn error(expression: &str, value: &MetricValue) -> String {
    match success(expression, value) {
        Err(error) => error.to_string(),
        Ok(phase) => panic!("{expression} on {value}: expected an error, got {phase:?}"),
    }
}

const NO_DATA: &str = "metric result is nil or empty: no data returned from the metric provider";

// === outcome table ===

#[test]
fn outcome_follows_argos_table() {
    use AnalysisPhase::{Failed, Inconclusive, Successful};
    let cases: &[(Option<&str>, Option<&str>, AnalysisPhase)] = &[
        (None, None, Successful),
        (Some(""), Some(""), Successful),
        (Some("true"), None, Successful),
        (Some("false"), None, Failed),
        (Some("false"), Some(""), Failed),
        (None, Some("true"), Failed),
        (None, Some("false"), Successful),
        (Some(""), Some("false"), Successful),
        (Some("true"), Some("false"), Successful),
        (Some("true"), Some("true"), Failed),
        (Some("false"), Some("true"), Failed),
        (Some("false"), Some("false"), Inconclusive),
    ];
    for (success, failure, expected) in cases {
        assert_eq!(evaluate(*success, *failure, &MetricValue::Bool(true)), Ok(expected.clone()), "{success:?} / {failure:?}");
    }
}

#[test]
fn no_condition_is_successful_whatever_the_value() {
    for value in [MetricValue::Nil, vector(&[]), vector(&[f64::NAN]), string("x")] {
        assert_eq!(evaluate(None, Some(""), &value), Ok(AnalysisPhase::Successful));
    }
}

#[test]
fn failure_condition_wins_over_success() {
    let value = MetricValue::Float(0.5);
    assert_eq!(evaluate(Some("result < 1"), Some("result > 0.1"), &value), Ok(AnalysisPhase::Failed));
    assert_eq!(evaluate(Some("result < 1"), Some("result > 0.9"), &value), Ok(AnalysisPhase::Successful));
    assert_eq!(evaluate(Some("result > 1"), Some("result > 0.9"), &value), Ok(AnalysisPhase::Inconclusive));
}

#[test]
fn either_condition_failing_to_evaluate_is_an_error_naming_it() {
    let value = MetricValue::Bool(true);
    let err = evaluate(Some("a == true"), Some("true"), &value).unwrap_err();
    assert_eq!(err.to_string(), r#"could not evaluate successCondition "a == true": unknown variable: a (result is bool)"#);
    let err = evaluate(Some("true"), Some("a == true"), &value).unwrap_err();
    assert!(matches!(err, ConditionError::Run { field: ConditionField::Failure, .. }), "{err:?}");
    // Argo evaluates the success condition first.
    let err = evaluate(Some("a"), Some("b"), &value).unwrap_err();
    assert!(err.to_string().starts_with(r#"could not evaluate successCondition "a""#), "{err}");
}

// === errors ===

#[test]
fn a_non_boolean_result_is_an_error_naming_the_expression() {
    assert_eq!(error("result", &MetricValue::Float(1.0)), r#"could not evaluate successCondition "result": expected bool, but got float"#);
    assert_eq!(error("1", &MetricValue::Bool(true)), r#"could not evaluate successCondition "1": expected bool, but got int"#);
    assert_eq!(
        evaluate(None, Some("result.items"), &json(r#"{"items": [1]}"#)).unwrap_err(),
        ConditionError::NotBool { field: ConditionField::Failure, expression: "result.items".into(), returned: "array" }
    );
}

#[test]
fn a_syntax_error_points_at_the_problem() {
    let err = success("result[0] >", &vector(&[1.0])).unwrap_err();
    assert!(matches!(err, ConditionError::Compile { field: ConditionField::Success, .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(r#"could not evaluate successCondition "result[0] >": syntax error at line 1, column 12: expected "#),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn a_syntax_error_is_reported_even_without_data() {
    let message = error("result[0] >", &vector(&[]));
    assert!(message.contains("syntax error at line 1, column 12"), "{message}");
}

#[test]
fn no_data_replaces_any_evaluation_error() {
    for value in [MetricValue::Nil, vector(&[])] {
        for expression in ["result[0] > 1", "result > 1", "result[0] >= 0.95", "asInt(result) == 1", "len(result)", "unknown"] {
            assert_eq!(
                success(expression, &value),
                Err(ConditionError::NoData { field: ConditionField::Success, expression: expression.into() }),
                "{expression} on {value}"
            );
        }
    }
    assert_eq!(error("result[0] >= 0.95", &vector(&[])), format!(r#"could not evaluate successCondition "result[0] >= 0.95": {NO_DATA}"#));
}

#[test]
fn empty_values_still_evaluate_when_guarded() {
    let empty = vector(&[]);
    assert!(holds("len(result) == 0 || result[0] < 1", &empty));
    assert!(!holds("len(result) > 0 && result[0] < 1", &empty));
    assert!(holds("all(result, # < 1)", &empty), "all() over nothing is true");
    assert!(holds("result == nil", &MetricValue::Nil));
    assert!(holds("result ?? true", &MetricValue::Nil));
}

#[test]
fn multi_line_messages_are_collapsed() {
    let message = error(r#"result matches "(""#, &string("x"));
    assert!(message.starts_with(r#"could not evaluate successCondition "result matches "("": "#), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn error_displays() {
    let (field, expression) = (ConditionField::Failure, String::from("result > 1"));
    let cases = [
        (ConditionError::Invalid { expression: expression.clone(), reason: "r".into() }, r#"invalid expression "result > 1": r"#),
        (
            ConditionError::Compile { field, expression: expression.clone(), reason: "r".into() },
            r#"could not evaluate failureCondition "result > 1": r"#,
        ),
        (
            ConditionError::Run { field, expression: expression.clone(), reason: "r".into(), result_type: "map" },
            r#"could not evaluate failureCondition "result > 1": r (result is map)"#,
        ),
        (
            ConditionError::NotBool { field, expression: expression.clone(), returned: "nil" },
            r#"could not evaluate failureCondition "result > 1": expected bool, but got nil"#,
        ),
        (
            ConditionError::NoData { field, expression },
            r#"could not evaluate failureCondition "result > 1": metric result is nil or empty: no data returned from the metric provider"#,
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
}

// === Prometheus pitfalls ===

#[test]
fn a_vector_compared_as_a_number_is_an_error() {
    assert_eq!(
        error("result >= 0.95", &vector(&[0.99])),
        r#"could not evaluate successCondition "result >= 0.95": Invalid operands for operator >= (result is array)"#
    );
}

#[test]
fn vector_samples_are_indexed() {
    assert_eq!(success("result[0] >= 0.95", &vector(&[0.99])), Ok(AnalysisPhase::Successful));
    assert_eq!(success("result[0] >= 0.95", &vector(&[0.9])), Ok(AnalysisPhase::Failed));
    assert!(holds("result[-1] == 2", &vector(&[1.0, 2.0])));
}

#[test]
fn an_empty_vector_indexed_is_no_data() {
    assert_eq!(error("result[0] > 1", &vector(&[])), format!(r#"could not evaluate successCondition "result[0] > 1": {NO_DATA}"#));
}

#[test]
fn range_queries_use_collection_builtins() {
    let series = vector(&[0.2, 0.4, 0.6]);
    let true_expressions = [
        "all(result, # < 1)",
        "all(result, {# < 1})",
        "any(result, # > 0.5)",
        "none(result, # > 1)",
        "one(result, # > 0.5)",
        "len(result) == 3",
        "len(filter(result, # > 0.3)) == 2",
        "map(result, # * 10)[2] == 6",
        "count(result, # > 0.3) == 2",
        "sum(result) > 1.1 && sum(result) < 1.3",
        "max(result) == 0.6",
        "min(result) == 0.2",
        "0.4 in result",
        "5 not in result",
        "result | len() == 3",
    ];
    for expression in true_expressions {
        assert!(holds(expression, &series), "{expression}");
    }
    assert!(!holds("all(result, # < 0.5)", &series));
}

#[test]
fn integers_and_floats_compare() {
    assert!(holds("result[0] >= 1", &vector(&[1.0])));
    assert!(holds("result[0] == 1", &vector(&[1.0])));
    assert!(holds("result == 3", &MetricValue::Float(3.0)));
    assert!(holds("result < 4 && result > 2", &MetricValue::Float(3.0)));
    assert!(holds("2 in result", &vector(&[2.0, 2.0])));
    assert!(holds("result.count == 3", &json(r#"{"count": 3}"#)));
    assert!(holds("result + 1 == 4.0", &MetricValue::Float(3.0)));
}

#[test]
fn nan_needs_is_nan() {
    let nan = vector(&[f64::NAN]);
    assert!(!holds("result[0] < 1", &nan), "NaN compares false");
    assert!(holds("isNaN(result[0]) || result[0] < 1", &nan));
    assert!(!holds("isNaN(result[0]) || result[0] < 1", &vector(&[2.0])));
    assert!(!holds("isNaN(result)", &MetricValue::Float(0.5)));
    assert!(!holds("isNaN(1)", &MetricValue::Nil));
    assert!(error("isNaN(result)", &vector(&[1.0])).contains("isNaN() expects a number, got array"));
}

#[test]
fn is_inf_tests_both_signs() {
    assert!(holds("isInf(result)", &MetricValue::Float(f64::INFINITY)));
    assert!(holds("isInf(result)", &MetricValue::Float(f64::NEG_INFINITY)));
    assert!(!holds("isInf(result)", &MetricValue::Float(1e308)));
    assert!(!holds("isInf(result)", &MetricValue::Float(f64::NAN)));
    assert!(error("isInf(result.x)", &json(r#"{"x": "1"}"#)).contains("isInf() expects a number, got string"));
}

// === web pitfalls ===

#[test]
fn json_objects_are_maps() {
    let body = json(r#"{"ok": true, "rate": 0.95, "data": {"values": [2, 3]}, "status": "healthy"}"#);
    assert!(holds("result.ok && result.rate >= 0.9", &body));
    assert!(holds("result['rate'] == 0.95", &body));
    assert!(holds("all(result.data.values, {# > 1})", &body));
    assert!(holds(r#"result.status == "healthy""#, &body));
    assert!(holds("result.missing == nil", &body), "a missing key is nil, as in Go");
    assert!(holds("(result.missing ?? 7) == 7", &body));
}

#[test]
fn strings_convert_with_as_int_and_as_float() {
    assert!(holds("asInt(result) == 3", &string("3")));
    assert!(holds("asInt(result) == -3", &string("-3")));
    assert!(holds("asFloat(result) == 1.1", &string("1.1")));
    assert!(holds(r#"asFloat("0.5") == 0.5"#, &MetricValue::Nil));
    assert!(holds(r#"asFloat("1e3") == 1000"#, &MetricValue::Nil));
    assert!(holds(r#"isNaN(asFloat("NaN")) && isInf(asFloat("-Inf")) && isInf(asFloat("infinity"))"#, &MetricValue::Nil));
    assert!(holds("asFloat(result.n) >= 0.9", &json(r#"{"n": "0.93"}"#)));
}

#[test]
fn as_int_and_as_float_take_numbers() {
    assert!(holds("asInt(result) == 1", &MetricValue::Float(1.9)), "truncates toward zero");
    assert!(holds("asInt(result) == -1", &MetricValue::Float(-1.9)));
    assert!(holds("asInt(3) == 3", &MetricValue::Nil));
    assert!(holds("asFloat(result) == 1", &MetricValue::Float(1.0)));
    assert!(holds("asFloat(1) >= 1", &MetricValue::Nil));
}

#[test]
fn conversion_errors_read_like_go() {
    let cases = [
        ("asInt(result) == 1", string("1.1"), r#"strconv.ParseInt: parsing "1.1": invalid syntax"#),
        ("asInt(result) == 1", string(" 1"), r#"strconv.ParseInt: parsing " 1": invalid syntax"#),
        ("asInt(result) == 1", string("99999999999999999999"), r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#),
        ("asFloat(result) == 1.1", string("NotANum"), r#"strconv.ParseFloat: parsing "NotANum": invalid syntax"#),
        ("asFloat(result) > 1", string("1e400"), r#"strconv.ParseFloat: parsing "1e400": value out of range"#),
        ("asInt(result) == 1", MetricValue::Bool(true), "asInt() not supported on bool"),
        ("asFloat(result) == 1", json(r#"{"a": 1}"#), "asFloat() not supported on map"),
        ("asInt() == 1", string("1"), "not enough arguments to call asInt"),
        ("asFloat(result, 1) == 1", string("1"), "too many arguments to call asFloat"),
    ];
    for (expression, value, cause) in cases {
        let message = error(expression, &value);
        assert!(message.contains(cause), "{expression} on {value}: {message}");
    }
}

// === isNil and default: Argo's quirk ===

#[test]
fn default_replaces_a_nil_result() {
    assert_eq!(success("default(result, 0) < 0.05", &MetricValue::Nil), Ok(AnalysisPhase::Successful));
    assert_eq!(success("default(result, 0) < 0.05", &MetricValue::Float(0.1)), Ok(AnalysisPhase::Failed));
    assert_eq!(success("default(result, 0) < 0.05", &MetricValue::Float(0.01)), Ok(AnalysisPhase::Successful));
}

#[test]
fn default_ignores_its_first_argument() {
    // The first argument is never looked at: `default(x, d)` is `result ?? d`.
    assert!(holds("default(1, 2) == 2", &MetricValue::Nil));
    assert!(holds("default(nil, 2) == 5", &MetricValue::Float(5.0)));
    assert!(holds("default(result.missing, 7) != 7", &json(r#"{"present": 1}"#)));
    // So it does not guard an empty vector: it returns the vector, and comparing that fails.
    assert_eq!(
        error("default(result[0], 0) < 1", &vector(&[])),
        format!(r#"could not evaluate successCondition "default(result[0], 0) < 1": {NO_DATA}"#)
    );
    assert!(error("default()", &MetricValue::Float(1.0)).contains("not enough arguments to call default"));
}

#[test]
fn is_nil_tests_the_whole_result() {
    assert!(holds("isNil(result)", &MetricValue::Nil));
    assert!(holds("isNil(1)", &MetricValue::Nil), "the argument is ignored");
    assert!(!holds("isNil(nil)", &MetricValue::Float(1.0)), "the argument is ignored");
    assert!(!holds("isNil(result)", &vector(&[])), "an empty vector is not nil");
    assert!(!holds("isNil(result.missing)", &json("{}")));
    assert!(holds("isNil(result) || result < 0.05", &MetricValue::Nil));
}

// === builtins ===

#[test]
fn expr_builtins_are_available() {
    let value = json(r#"{"name": "web-canary", "latency": -2.5, "codes": ["200", "503"]}"#);
    let true_expressions = [
        "abs(result.latency) == 2.5",
        "ceil(result.latency) == -2",
        "floor(result.latency) == -3",
        "round(2.5) == 3",
        r#"result.name contains "canary""#,
        r#"result.name startsWith "web""#,
        r#"result.name endsWith "canary""#,
        r#"result.name matches "^web-[a-z]+$""#,
        r#""503" in result.codes"#,
        r#"(result.latency < 0 ? "low" : "high") == "low""#,
        "let l = abs(result.latency); l > 2 and l < 3",
        "not (result.latency > 0)",
        r#"upper(result.name) == "WEB-CANARY""#,
        r#"type(result) == "map""#,
        r#"duration("1h") > duration("30m")"#,
    ];
    for expression in true_expressions {
        assert!(holds(expression, &value), "{expression}");
    }
}

#[test]
fn booleans_and_strings_as_results() {
    assert!(holds("result", &MetricValue::Bool(true)));
    assert!(holds("result == true", &MetricValue::Bool(true)));
    assert!(!holds("result", &MetricValue::Bool(false)));
    assert!(holds(r#"result == "OK""#, &string("OK")));
}

#[test]
fn index_past_the_end_is_nil_here() {
    // A documented difference: Go expr reports an index out of range; expr-lang yields nil, which compares
    // unequal to everything. The ordering comparisons Argo's examples use still fail, as in Argo.
    assert_eq!(success("result[0] == 1", &vector(&[])), Ok(AnalysisPhase::Failed));
    assert!(success("result[3] > 1", &vector(&[1.0])).is_err());
}

// === check ===

#[test]
fn check_accepts_valid_expressions() {
    for expression in ["result[0] >= 0.95", "len(result) == 0 || all(result, # < 1)", "isNil(result) || default(result, 0) < 1", ""] {
        assert_eq!(check(expression), Ok(()), "{expression}");
    }
    // Unknown names are only found when the expression runs.
    assert_eq!(check("unknownName > 1"), Ok(()));
}

#[test]
fn check_points_at_syntax_errors() {
    let err = check("result[0] >= ").unwrap_err();
    assert!(matches!(&err, ConditionError::Invalid { expression, .. } if expression == "result[0] >= "), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with(r#"invalid expression "result[0] >= ": syntax error at line 1, column 14: expected "#), "{message}");
    assert!(check("result ==\n  (1 +").unwrap_err().to_string().contains("syntax error at line 2"));
    assert!(check("9223372036854775808 > 1").unwrap_err().to_string().contains("invalid integer literal"));
}

// === robustness ===

#[test]
fn expressions_longer_than_the_limit_are_rejected() {
    let long = format!("true{}", " && true".repeat(MAX_EXPRESSION_BYTES / 8));
    assert!(long.len() > MAX_EXPRESSION_BYTES);
    let message = error(&long, &vector(&[]));
    assert!(message.contains(&format!("longer than the {MAX_EXPRESSION_BYTES} bytes allowed")), "{message}");
    assert!(check(&long).unwrap_err().to_string().contains("bytes allowed"));
}

#[test]
fn the_deepest_expressions_allowed_do_not_overflow_the_stack() {
    // expr-lang recurses per nesting level and per chained operator; these are the deepest shapes per byte.
    let shapes: &[(&str, &str, &str)] = &[
        ("1+", "1", ""),
        ("true&&", "true", ""),
        ("(", "1", ")"),
        ("[", "1", "]"),
        ("abs(", "1", ")"),
        ("-(", "1", ")"),
        ("true?1:", "1", ""),
        ("", "result", "[0]"),
        ("", "result", ".a"),
        ("map([1],{", "#", "})"),
    ];
    // The stack grows with the length, so short deep expressions are checked as well as the longest.
    for length in [32, 100, 400, 1500, MAX_EXPRESSION_BYTES] {
        for (open, middle, close) in shapes {
            let repeats = (length - middle.len()) / (open.len() + close.len());
            let expression = format!("{}{middle}{}", open.repeat(repeats), close.repeat(repeats));
            assert!(expression.len() <= MAX_EXPRESSION_BYTES);
            // Any outcome will do; the process surviving is the test.
            let _ = success(&expression, &vector(&[1.0]));
            let _ = check(&expression);
        }
    }
}

#[test]
fn expr_lang_panics_become_errors() {
    // expr-lang 2.1 hits an `unreachable!` compiling a nested map literal.
    let message = error("{a: {b: 1}}.a.b == 1", &MetricValue::Float(1.0));
    assert!(message.contains("panicked"), "{message}");
    assert!(check("{a: {b: 1}}").unwrap_err().to_string().contains("panicked"));
}

fn metric_value() -> impl Strategy<Value = MetricValue> {
    let leaf = prop_oneof![
        Just(MetricValue::Nil),
        any::<bool>().prop_map(MetricValue::Bool),
        prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(0.0)].prop_map(MetricValue::Float),
        "[a-z0-9.]{0,4}".prop_map(MetricValue::String),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(MetricValue::Array),
            prop::collection::vec(("[a-c]", inner), 0..3).prop_map(MetricValue::Map),
        ]
    })
}

fn expression() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "result", "[", "]", "(", ")", "{", "}", "0", "1", "-1", "0.5", "1e9", "#", ".", ".a", ",", ":", "?", "??", "?.", "|", "&&", "||",
        "!", "not", "==", "!=", "<", ">=", "+", "-", "*", "/", "%", "^", "**", "in", "..", "\"x\"", "'", "`", "nil", "true", "len", "all",
        "map", "filter", "asInt", "asFloat", "isNaN", "isInf", "isNil", "default", "let", "=", ";", "matches", "if", "else", "b\"\\x",
        "0x", "_", " ",
    ]);
    prop::collection::vec(token, 0..24).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics(success in expression(), failure in expression(), value in metric_value()) {
        let _ = evaluate(Some(&success), Some(&failure), &value);
        let _ = check(&success);
    }

    #[test]
    fn well_formed_conditions_judge_any_value(value in metric_value(), threshold in -2.0f64..2.0) {
        let guarded = format!("type(result) == \"float\" && !isNaN(result) && result >= {threshold:?}");
        let phase = evaluate(Some(&guarded), None, &value);
        prop_assert!(matches!(phase, Ok(AnalysisPhase::Successful | AnalysisPhase::Failed)), "{phase:?}");
    }
}
