//! Text a person typed, as it is stored: trimmed, at most a bounded number of characters, no
//! control characters but newlines. One rule for every free-text field (names, descriptions,
//! keys, URLs), checked once — by the request body's type ([`Text`], [`Required`]) or by
//! [`checked`] for text that arrives elsewhere.

use serde::de::{Deserialize, Deserializer, Error as _};

/// A text that breaks the rule for its field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be {min} to {max} characters, without control characters")]
pub struct TextError {
    /// The field, as the API names it.
    pub field: String,
    /// Fewest characters (1 when required).
    pub min: usize,
    /// Most characters.
    pub max: usize,
}

/// `v` trimmed, if it has from `required as usize` to `max` characters and no control
/// characters but newlines.
pub fn checked(field: &str, v: &str, max: usize, required: bool) -> Result<String, TextError> {
    let t = v.trim();
    if (required && t.is_empty())
        || t.chars().count() > max
        || t.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(TextError {
            field: field.to_owned(),
            min: usize::from(required),
            max,
        });
    }
    Ok(t.to_owned())
}

/// An optional text field of at most `MAX` characters (possibly empty), checked when the
/// body is read: a request with a bad one is refused before anything runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Text<const MAX: usize>(String);

/// A text field of 1 to `MAX` characters.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Required<const MAX: usize>(String);

macro_rules! text_type {
    ($name:ident, $required:expr) => {
        impl<const MAX: usize> $name<MAX> {
            /// The checked text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The checked text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
            /// Check `v` as `field` outside a body (query parameters, stored values).
            pub fn parse(field: &str, v: &str) -> Result<Self, TextError> {
                checked(field, v, MAX, $required).map(Self)
            }
        }

        impl<'de, const MAX: usize> Deserialize<'de> for $name<MAX> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                checked("the value", &raw, MAX, $required)
                    .map(Self)
                    .map_err(|e| {
                        D::Error::custom(format!(
                            "must be {} to {} characters, without control characters",
                            e.min, e.max
                        ))
                    })
            }
        }

        impl<const MAX: usize> std::ops::Deref for $name<MAX> {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl<const MAX: usize> From<$name<MAX>> for String {
            fn from(t: $name<MAX>) -> String {
                t.0
            }
        }
    };
}

text_type!(Text, false);
text_type!(Required, true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_every_field() {
        assert_eq!(checked("name", "  Ada ", 3, true).as_deref(), Ok("Ada"));
        assert!(
            checked("name", "   ", 3, true).is_err(),
            "required and blank"
        );
        assert_eq!(checked("name", "", 3, false).as_deref(), Ok(""));
        assert!(checked("name", "Adam", 3, false).is_err(), "too long");
        assert!(
            checked("name", "é日本", 3, false).is_ok(),
            "characters, not bytes"
        );
        assert!(
            checked("name", "a\u{0}", 3, false).is_err(),
            "control character"
        );
        assert!(
            checked("name", "a\nb", 3, false).is_ok(),
            "newlines are text"
        );
        let body: Result<Text<3>, _> = serde_json::from_str("\"Adam\"");
        assert!(body.is_err());
        let body: Required<3> = serde_json::from_str("\" Ada \"").unwrap();
        assert_eq!(body.as_str(), "Ada");
        assert!(serde_json::from_str::<Required<3>>("\"\"").is_err());
        assert!(
            serde_json::from_str::<Text<3>>("7").is_err(),
            "not a string"
        );
    }
}
