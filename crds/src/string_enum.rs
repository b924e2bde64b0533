//! Open string enums: the known values of an Argo string field (phases, reasons, kinds) plus `Other(String)`.
//!
//! Argo's CRDs declare these fields as plain strings, so a cluster may hold values this version of Serin does not
//! know (written by a newer controller, or by hand). Decoding must not fail on them and writing the object back
//! must not change them: an unrecognised value is kept verbatim in `Other` and serialized as it came.
//! Code that decides on these values matches exhaustively, `Other` included.

/// Declares an open string enum; see the module docs. Each variant names its exact wire value.
macro_rules! open_string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
            /// A value this version does not know, kept verbatim. Build values with `From<&str>` so known
            /// strings map to their variants.
            Other(String),
        }

        impl $name {
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::from(value.as_str())
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::from(value))
            }
        }

        impl ::schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                ::schemars::json_schema!({ "type": "string" })
            }
        }
    };
}

pub(crate) use open_string_enum;

#[cfg(test)]
mod tests {
    open_string_enum! {
        /// A test enum.
        pub enum Color {
            /// Red.
            Red = "red",
            /// Dark blue.
            DarkBlue = "DarkBlue",
        }
    }

    #[test]
    fn known_and_unknown_values_round_trip() {
        let known: Color = serde_json::from_value(serde_json::json!("DarkBlue")).unwrap();
        assert_eq!(known, Color::DarkBlue);
        let unknown: Color = serde_json::from_value(serde_json::json!("teal")).unwrap();
        assert_eq!(unknown, Color::Other("teal".into()));
        assert_eq!(serde_json::to_value(&unknown).unwrap(), serde_json::json!("teal"));
        assert_eq!(Color::from("red"), Color::Red);
        assert_eq!(Color::Red.to_string(), "red");
        assert_eq!(Color::from(String::new()), Color::Other(String::new()));
    }
}
