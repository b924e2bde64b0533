//! Judging a measurement: a metric's `successCondition` and `failureCondition`, evaluated against the measured
//! value the way Argo Rollouts evaluates them.
//!
//! Pure: no I/O and no clock of its own (only an expression that calls `now()` reads the system clock). Each
//! expression runs on a short-lived thread whose stack grows with the expression's length, because expr-lang
//! recurses once per nesting level and per chained operator, and a stack overflow would abort the controller.
//!
//! # The language
//!
//! Conditions are [expr](https://expr-lang.org) expressions, the language Argo Rollouts embeds. Every builtin
//! is available: `len`, `all(result, # < 1)`, `any`, `none`, `one`, `filter`, `map`, `count`, `sum`, `max`,
//! `min`, `abs`, `ceil`, `floor`, `round`, `contains`, `startsWith`, `endsWith`, `matches`, `in`, `a ? b : c`,
//! `a ?? b`, `let`, pipes, and the date functions. Integers and floats compare with each other (`result[0] >= 1`
//! holds for `1.0`). The expression must evaluate to a boolean.
//!
//! The environment holds:
//!
//! - `result`: the measured value. A Prometheus scalar is a float; an instant vector is a list of floats (so the
//!   first sample is `result[0]`); a web provider's JSON is a map, list, string, number (always a float, as Go
//!   decodes JSON), boolean or `nil`; a non-JSON body is a string. No data is `nil` or an empty list.
//! - `asInt(x)`: a number, truncated toward zero, or a decimal integer string, as an integer; an error otherwise.
//! - `asFloat(x)`: a number or a numeric string (`"0.5"`, `"1e3"`, `"NaN"`, `"+Inf"`) as a float; an error
//!   otherwise.
//! - `isNaN(x)`, `isInf(x)`: whether a number is NaN, or infinite of either sign. Prometheus returns NaN for `0/0`.
//! - `isNil(x)`, `default(x, d)`: see the quirk below.
//!
//! **Quirk, kept for compatibility:** `isNil` and `default` ignore their first argument and look at the whole
//! `result`. `isNil(anything)` is `result == nil`, and `default(anything, d)` is `result` unless `result` is
//! `nil`, then `d`. So `default(result, 0) < 0.05` guards a provider that returned no value at all, but
//! `default(result[0], 0)` does not guard an empty vector (the vector is not `nil`, so it returns the vector).
//!
//! # Outcome
//!
//! | `successCondition` | `failureCondition` | phase                                                     |
//! |--------------------|--------------------|-----------------------------------------------------------|
//! | unset              | unset              | Successful                                                |
//! | set                | unset              | Successful if it holds, else Failed                       |
//! | unset              | set                | Failed if it holds, else Successful                       |
//! | set                | set                | Failed if failure holds, else Successful if success holds, else Inconclusive |
//!
//! An empty string counts as unset. Set conditions are evaluated `successCondition` first. The first one that
//! cannot be evaluated makes the measurement an `Error` (which counts against `consecutiveErrorLimit`, not
//! `failureLimit`) with a message naming the condition and the cause, e.g.
//! `could not evaluate successCondition "result >= 0.95": Invalid operands for operator >= (result is array)`.
//! When the result is `nil` or an empty list, any evaluation failure instead reads
//! `could not evaluate successCondition "result[0] >= 0.95": metric result is nil or empty: no data returned from
//! the metric provider`.
//!
//! # Pitfalls
//!
//! - A Prometheus vector is a list: `result >= 0.95` is an error, write `result[0] >= 0.95`, or
//!   `all(result, # >= 0.95)` for every series.
//! - A query can return an empty vector. `result[0] >= 0.95` is then an error; guard it with
//!   `len(result) > 0 && result[0] >= 0.95` (empty fails) or `len(result) == 0 || result[0] >= 0.95` (empty
//!   passes). `all` over an empty list is `true`.
//! - NaN compares false with everything: `isNaN(result[0]) || result[0] < 1` treats NaN as passing.
//! - Web values in strings need a conversion: `asInt(result) == 3`, `asFloat(result.rate) > 0.9`.
//!
//! # Differences from Argo Rollouts
//!
//! expr-lang (the Rust implementation) runs expressions without Go expr's compile-time type check, so:
//!
//! - A type error or an unknown name is only reported on a path that runs: `true || result >= 0.95` is `true`
//!   here and an error in Argo, and `asFloat("1") == "1"` is `false` here and an error in Argo.
//! - An index past the end of a list gives `nil` instead of an error. Ordering comparisons and arithmetic on
//!   it still fail (`result[0] > 1` on an empty vector is the no-data error, as in Argo), but `result[0] == 1`
//!   is `false` where Argo reports an error.
//! - An expression that does not parse reports the syntax error even when the result is empty, where Argo
//!   reports "no data".
//! - Expressions longer than [`MAX_EXPRESSION_BYTES`] are rejected.

use std::any::Any;
use std::fmt;
use std::num::IntErrorKind;
use std::thread;

use expr::{Context, Environment, Value};
use serin_api::AnalysisPhase;

use super::MetricValue;

/// The longest expression accepted, in bytes. Argo users' conditions are a few hundred bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;

/// expr-lang parses and evaluates by recursion, one level per nesting and per operator of a chain, and a stack
/// overflow aborts the process. So an expression runs on its own thread, with a stack sized to its length: the
/// deepest expression per byte measured (`1+1+…+1`) takes about 10 KiB of stack per byte in a debug build and
/// 1.5 KiB in a release build. The stack is reserved address space; only the pages a deep expression touches are
/// committed. The base covers the environment, converting the value, and short expressions.
const STACK_BASE_BYTES: usize = 1 << 20;
/// See [`STACK_BASE_BYTES`].
const STACK_PER_EXPRESSION_BYTE: usize = 16 << 10;

/// Why a condition could not judge a measurement, or an expression is invalid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConditionError {
    /// [`check`]: the expression does not compile.
    #[error("invalid expression \"{expression}\": {reason}")]
    Invalid { expression: String, reason: String },
    /// The condition does not compile.
    #[error("could not evaluate {field} \"{expression}\": {reason}")]
    Compile { field: ConditionField, expression: String, reason: String },
    /// Running the condition failed: a type error, an unknown name, a helper's error.
    #[error("could not evaluate {field} \"{expression}\": {reason} (result is {result_type})")]
    Run { field: ConditionField, expression: String, reason: String, result_type: &'static str },
    /// The condition ran and returned something other than a boolean.
    #[error("could not evaluate {field} \"{expression}\": expected bool, but got {returned}")]
    NotBool { field: ConditionField, expression: String, returned: &'static str },
    /// The condition could not be evaluated, and the provider returned nothing (`nil` or an empty list).
    #[error("could not evaluate {field} \"{expression}\": metric result is nil or empty: no data returned from the metric provider")]
    NoData { field: ConditionField, expression: String },
}

/// Which condition of a metric an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionField {
    /// `successCondition`.
    Success,
    /// `failureCondition`.
    Failure,
}

impl fmt::Display for ConditionField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Success => "successCondition",
            Self::Failure => "failureCondition",
        })
    }
}

/// Judges one measurement. `Ok(phase)` is Successful, Failed or Inconclusive; `Err` becomes a measurement with
/// phase Error and the error's Display as message.
pub fn evaluate(success: Option<&str>, failure: Option<&str>, value: &MetricValue) -> Result<AnalysisPhase, ConditionError> {
    let verdict = |field, expression: Option<&str>| {
        expression.filter(|expression| !expression.is_empty()).map(|expression| judge(field, expression, value)).transpose()
    };
    // Argo evaluates the success condition first, so when both fail the error names `successCondition`.
    let success = verdict(ConditionField::Success, success)?;
    let failure = verdict(ConditionField::Failure, failure)?;
    Ok(outcome(success, failure))
}

/// Compiles an expression without running it (for validation; returns a message pointing at the problem).
///
/// An empty expression is valid: it means the condition is unset.
pub fn check(expression: &str) -> Result<(), ConditionError> {
    if expression.is_empty() {
        return Ok(());
    }
    let invalid = |reason| ConditionError::Invalid { expression: expression.to_owned(), reason };
    check_length(expression).map_err(invalid)?;
    match on_own_stack(expression, || expr::compile(expression).map(drop).map_err(|error| describe_compile_error(&error))) {
        Ok(compiled) => compiled.map_err(invalid),
        Err(panic) => Err(invalid(format!("the expression compiler {panic}"))),
    }
}

/// The phase of a measurement from the verdicts of its set conditions (`None`: unset).
fn outcome(success: Option<bool>, failure: Option<bool>) -> AnalysisPhase {
    match (success, failure) {
        // A failure condition that holds always fails; an unset failure condition fails when success does not hold.
        (_, Some(true)) | (Some(false), None) => AnalysisPhase::Failed,
        // Otherwise a success condition that holds, or no success condition, passes.
        (Some(true), _) | (None, None | Some(false)) => AnalysisPhase::Successful,
        // Both set, neither holds.
        (Some(false), Some(false)) => AnalysisPhase::Inconclusive,
    }
}

/// Evaluates one set condition to its verdict.
fn judge(field: ConditionField, expression: &str, value: &MetricValue) -> Result<bool, ConditionError> {
    let owned = || expression.to_owned();
    let verdict = match check_length(expression) {
        Ok(()) => {
            on_own_stack(expression, || run(expression, value)).unwrap_or_else(|panic| Verdict::Failed(format!("evaluation {panic}")))
        }
        Err(reason) => Verdict::Invalid(reason),
    };
    match verdict {
        Verdict::Bool(holds) => Ok(holds),
        Verdict::Invalid(reason) => Err(ConditionError::Compile { field, expression: owned(), reason }),
        Verdict::NotBool(_) | Verdict::Failed(_) if value.is_empty() => Err(ConditionError::NoData { field, expression: owned() }),
        Verdict::NotBool(returned) => Err(ConditionError::NotBool { field, expression: owned(), returned }),
        Verdict::Failed(reason) => Err(ConditionError::Run { field, expression: owned(), reason, result_type: metric_type_name(value) }),
    }
}

/// What became of one expression. Only small data leaves the evaluation thread: a value the expression built may
/// be as deep as the expression, and dropping it takes stack too.
enum Verdict {
    Bool(bool),
    /// The type name of what the expression returned.
    NotBool(&'static str),
    /// It did not compile.
    Invalid(String),
    /// It compiled, and running it failed.
    Failed(String),
}

/// Compiles and runs `expression` with `result` bound to `value`. Runs on the evaluation thread: converting a deep
/// value recurses too.
fn run(expression: &str, value: &MetricValue) -> Verdict {
    let program = match expr::compile(expression) {
        Ok(program) => program,
        Err(error) => return Verdict::Invalid(describe_compile_error(&error)),
    };
    let result = to_expr_value(value);
    let environment = environment(&result);
    let mut context = Context::default();
    context.insert("result", result.clone());
    match environment.run(&program, &context) {
        Ok(Value::Bool(holds)) => Verdict::Bool(holds),
        Ok(other) => Verdict::NotBool(type_name(&other)),
        Err(error) => Verdict::Failed(one_line(&error.to_string())),
    }
}

fn check_length(expression: &str) -> Result<(), String> {
    if expression.len() > MAX_EXPRESSION_BYTES {
        Err(format!("the expression is {} bytes long, longer than the {MAX_EXPRESSION_BYTES} bytes allowed", expression.len()))
    } else {
        Ok(())
    }
}

/// Runs `work`, which compiles or runs `expression`, on a thread with a stack deep enough for it. A panic inside
/// expr-lang (it has a few `unreachable!`s that odd input reaches) is returned as `Err("panicked: …")`, like Argo
/// recovering one.
fn on_own_stack<T: Send>(expression: &str, work: impl FnOnce() -> T + Send) -> Result<T, String> {
    thread::scope(|scope| {
        let handle = thread::Builder::new()
            .name("expr".to_owned())
            .stack_size(STACK_BASE_BYTES + expression.len() * STACK_PER_EXPRESSION_BYTE)
            .spawn_scoped(scope, work)
            .map_err(|error| format!("could not start: {error}"))?;
        handle.join().map_err(|payload| format!("panicked: {}", panic_message(payload.as_ref())))
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str)).unwrap_or("(no message)")
}

/// A compile error on one line. A syntax error reads `syntax error at line 1, column 5: expected …`, instead of
/// pest's multi-line drawing.
fn describe_compile_error(error: &expr::Error) -> String {
    match error {
        expr::Error::PestError(error) => {
            let drawing = error.to_string();
            // pest's drawing starts with ` --> line:column`.
            let position = drawing.lines().next().and_then(|line| line.trim().strip_prefix("--> ")).and_then(|at| at.split_once(':'));
            let message = error.variant.message();
            match position {
                Some((line, column)) => format!("syntax error at line {line}, column {column}: {message}"),
                None => format!("syntax error: {message}"),
            }
        }
        other => one_line(&other.to_string()),
    }
}

/// Collapses the line breaks of a multi-line message (e.g. a regex syntax error) into spaces, for status fields.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

// === the environment ===

/// The builtins plus Argo's helpers. `result` is the converted measured value, which `isNil` and `default` read.
fn environment(result: &Value) -> Environment<'_> {
    let mut environment = Environment::new();
    environment.add_function("asInt", |call| {
        let [value] = arguments("asInt", call.args)?;
        as_int(&value).map(Value::Integer).map_err(expr::Error::from)
    });
    environment.add_function("asFloat", |call| {
        let [value] = arguments("asFloat", call.args)?;
        as_float(&value).map(Value::Float).map_err(expr::Error::from)
    });
    environment.add_function("isNaN", |call| {
        let [value] = arguments("isNaN", call.args)?;
        number("isNaN", &value).map(|number| Value::Bool(number.is_nan()))
    });
    environment.add_function("isInf", |call| {
        let [value] = arguments("isInf", call.args)?;
        number("isInf", &value).map(|number| Value::Bool(number.is_infinite()))
    });
    // Argo's quirk: both look at `result`, whatever their first argument is.
    environment.add_function("isNil", move |call| {
        let [_] = arguments("isNil", call.args)?;
        Ok(Value::Bool(result.is_nil()))
    });
    environment.add_function("default", move |call| {
        let [_, fallback] = arguments("default", call.args)?;
        Ok(if result.is_nil() { fallback } else { result.clone() })
    });
    environment
}

/// A helper's arguments, exactly `N` of them; otherwise the error Go expr gives for a wrong count.
fn arguments<const N: usize>(function: &str, arguments: Vec<Value>) -> Result<[Value; N], expr::Error> {
    <[Value; N]>::try_from(arguments).map_err(|arguments| {
        let problem = if arguments.len() < N { "not enough" } else { "too many" };
        expr::Error::from(format!("{problem} arguments to call {function}"))
    })
}

/// `asInt`: numbers truncate toward zero (saturating at the integer range; NaN is 0); strings parse as Go's
/// `strconv.ParseInt(s, 10, 64)` does, and fail with its message.
fn as_int(value: &Value) -> Result<i64, String> {
    match value {
        Value::Integer(integer) => Ok(*integer),
        // Truncation is the point; `as` saturates, so no input can overflow.
        #[allow(clippy::cast_possible_truncation)]
        Value::Float(float) => Ok(*float as i64),
        Value::String(text) => text.parse().map_err(|error: std::num::ParseIntError| {
            let problem = match error.kind() {
                IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "value out of range",
                _ => "invalid syntax",
            };
            format!("strconv.ParseInt: parsing {text:?}: {problem}")
        }),
        other => Err(format!("asInt() not supported on {}", type_name(other))),
    }
}

/// `asFloat`: numbers as floats; strings parse as Go's `strconv.ParseFloat(s, 64)` does (including `NaN`, `Inf`,
/// `infinity`, any case) and fail with its message, also when the number is too large for a float.
fn as_float(value: &Value) -> Result<f64, String> {
    match value {
        #[allow(clippy::cast_precision_loss)]
        Value::Integer(integer) => Ok(*integer as f64),
        Value::Float(float) => Ok(*float),
        Value::String(text) => {
            let error = |problem| format!("strconv.ParseFloat: parsing {text:?}: {problem}");
            let parsed: f64 = text.parse().map_err(|_| error("invalid syntax"))?;
            let unsigned = text.trim_start_matches(['+', '-']);
            let spells_infinity = unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity");
            // Rust rounds `1e400` to infinity; Go reports it out of range.
            if parsed.is_infinite() && !spells_infinity { Err(error("value out of range")) } else { Ok(parsed) }
        }
        other => Err(format!("asFloat() not supported on {}", type_name(other))),
    }
}

/// The argument of `isNaN`/`isInf`: a float (an integer is accepted too, and is never NaN or infinite).
fn number(function: &str, value: &Value) -> Result<f64, expr::Error> {
    match value {
        #[allow(clippy::cast_precision_loss)]
        Value::Integer(integer) => Ok(*integer as f64),
        Value::Float(float) => Ok(*float),
        other => Err(expr::Error::from(format!("{function}() expects a number, got {}", type_name(other)))),
    }
}

// === values ===

/// The measured value as expr sees it.
fn to_expr_value(value: &MetricValue) -> Value {
    match value {
        MetricValue::Nil => Value::Nil,
        MetricValue::Bool(boolean) => Value::Bool(*boolean),
        MetricValue::Float(float) => Value::Float(*float),
        MetricValue::String(text) => Value::String(text.clone()),
        MetricValue::Array(items) => Value::Array(items.iter().map(to_expr_value).collect()),
        MetricValue::Map(entries) => entries.iter().map(|(key, item)| (key.clone(), to_expr_value(item))).collect(),
    }
}

/// A value's type as expr's `type()` names it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Bool(_) => "bool",
        Value::Integer(_) => "int",
        Value::Float(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) | Value::Bytes(_) => "array",
        Value::Map(_) | Value::KeyedMap(_) => "map",
        Value::DateTime(_) => "time.Time",
        Value::Duration(_) => "time.Duration",
        Value::Timezone(_) => "time.Location",
        Value::Month(_) => "time.Month",
        Value::Weekday(_) => "time.Weekday",
    }
}

/// A measured value's type, named as [`type_name`] names it once converted.
fn metric_type_name(value: &MetricValue) -> &'static str {
    match value {
        MetricValue::Nil => "nil",
        MetricValue::Bool(_) => "bool",
        MetricValue::Float(_) => "float",
        MetricValue::String(_) => "string",
        MetricValue::Array(_) => "array",
        MetricValue::Map(_) => "map",
    }
}
