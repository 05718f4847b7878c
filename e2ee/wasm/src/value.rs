//! What crosses the JavaScript boundary, as plain Rust data.
//!
//! Everything the glue hands to JavaScript is first built as a [`Value`] and everything it
//! reads from a JavaScript object arrives as [`Input`]s, field by field. The conversion logic
//! (message formats, events, validation) works on these and is tested on the host; only
//! [`crate::js`] touches `JsValue`, and it is mechanical.

/// A JavaScript value to build: plain objects, arrays, strings, numbers, `Uint8Array`s.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    /// A JavaScript number. Counters and epochs are exact below 2^53.
    Num(f64),
    /// A JavaScript `BigInt` (KIDs and counters of the raw SFrame helpers: full u64 range).
    BigU64(u64),
    Str(String),
    /// A fresh `Uint8Array`.
    Bytes(Vec<u8>),
    List(Vec<Value>),
    /// A plain object; keys in this order.
    Obj(Vec<(&'static str, Value)>),
}

impl Value {
    pub(crate) fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    /// A u64 as a number (exact below 2^53, which epochs, leaves and counts never reach).
    pub(crate) fn num(n: u64) -> Self {
        Self::Num(n as f64)
    }

    pub(crate) fn opt_str(s: Option<&str>) -> Self {
        s.map_or(Self::Null, Self::str)
    }

    /// The field `key` of an object (tests read what they built).
    #[cfg(test)]
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Self::Obj(fields) => fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The object as field lookups, the way [`crate::js::fields`] reads a JavaScript object
    /// (tests feed what one side built to the other side's parser).
    #[cfg(test)]
    pub(crate) fn input(&self, key: &str) -> Input {
        match self.get(key) {
            None => Input::Missing,
            Some(Self::Null) => Input::Null,
            Some(Self::Str(s)) => Input::Str(s.clone()),
            Some(Self::Num(n)) => Input::Num(*n),
            Some(Self::Bool(b)) => Input::Bool(*b),
            Some(Self::BigU64(_)) => Input::Other("bigint"),
            Some(Self::Bytes(_) | Self::List(_) | Self::Obj(_)) => Input::Other("object"),
        }
    }
}

/// One field of a JavaScript object, as read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// `undefined` or absent.
    Missing,
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
    /// Anything else: its `typeof`.
    Other(&'static str),
}

impl Input {
    /// What the value was, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Missing => "undefined",
            Self::Null => "null",
            Self::Str(_) => "a string",
            Self::Num(_) => "a number",
            Self::Bool(_) => "a boolean",
            Self::Other(t) => t,
        }
    }
}

/// Reads fields of one object by name.
pub(crate) type Fields<'a> = &'a dyn Fn(&str) -> Input;
