//! Go-compatible handling of `null` for list and map fields.
//!
//! Go's encoding/json decodes `null` into a nil slice or map, and YAML writes `steps:` with nothing after it as
//! `null`. Serde would reject that for a `Vec` or `BTreeMap`; these fields use [`null_as_default`] so such a
//! manifest decodes to an empty collection, which is what Argo sees.

use serde::{Deserialize, Deserializer};

/// Deserializes `null` as `T::default()` and anything else as `T`.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
