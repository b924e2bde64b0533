//! Placeholder: being written (success/failure condition evaluation with expr-lang).
