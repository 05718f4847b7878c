//! The mechanical part of the boundary: [`Value`] to `JsValue`, JavaScript object fields to
//! [`Input`], [`GlueError`] to a thrown `Error`. Everything here calls into JavaScript, so it
//! runs only in wasm; the logic it serves is tested on the host.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::GlueError;
use crate::value::{Input, Value};

/// Sets `key` on an object this module just made. A fresh plain object has no setters, is
/// not frozen and is no proxy, so `Reflect.set` cannot fail on it.
fn set(obj: &Object, key: &str, value: &JsValue) {
    let ok = Reflect::set(obj, &JsValue::from_str(key), value);
    debug_assert!(matches!(ok, Ok(true)), "Reflect.set on a fresh object");
}

pub(crate) fn to_js(v: &Value) -> JsValue {
    match v {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Num(n) => JsValue::from_f64(*n),
        Value::BigU64(n) => JsValue::from(*n),
        Value::Str(s) => JsValue::from_str(s),
        Value::Bytes(b) => Uint8Array::from(b.as_slice()).into(),
        Value::List(items) => {
            let a = Array::new_with_length(items.len() as u32);
            for (i, x) in items.iter().enumerate() {
                a.set(i as u32, to_js(x));
            }
            a.into()
        }
        Value::Obj(fields) => {
            let o = Object::new();
            for (k, x) in fields {
                set(&o, k, &to_js(x));
            }
            o.into()
        }
    }
}

/// A thrown value: an `Error` named `TelesfuError` with the stable `code`.
pub(crate) fn error(e: GlueError) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("TelesfuError");
    set(&err, "code", &JsValue::from_str(e.code));
    err.into()
}

pub(crate) fn throw<T>(r: Result<T, GlueError>) -> Result<T, JsValue> {
    r.map_err(error)
}

fn input(v: JsValue) -> Input {
    if v.is_undefined() {
        Input::Missing
    } else if v.is_null() {
        Input::Null
    } else if let Some(s) = v.as_string() {
        Input::Str(s)
    } else if let Some(n) = v.as_f64() {
        Input::Num(n)
    } else if let Some(b) = v.as_bool() {
        Input::Bool(b)
    } else if v.is_bigint() {
        Input::Other("a bigint")
    } else if v.is_function() {
        Input::Other("a function")
    } else if v.is_symbol() {
        Input::Other("a symbol")
    } else {
        Input::Other("an object")
    }
}

/// A field reader over `obj` (an object, or a JSON text of one).
pub(crate) fn fields(obj: &JsValue) -> Result<impl Fn(&str) -> Input, GlueError> {
    let obj = if let Some(text) = obj.as_string() {
        js_sys::JSON::parse(&text)
            .map_err(|_| GlueError::bad_message("the message is a string but not JSON"))?
    } else {
        obj.clone()
    };
    if !obj.is_object() || obj.is_function() {
        return Err(GlueError::bad_message(format!(
            "expected an object, got {}",
            input(obj).kind()
        )));
    }
    Ok(
        move |key: &str| match Reflect::get(&obj, &JsValue::from_str(key)) {
            Ok(v) => input(v),
            Err(_) => Input::Other("a getter that threw"),
        },
    )
}

/// A field reader that owns what it reads.
pub(crate) type Reader = Box<dyn Fn(&str) -> Input>;

/// An optional options object: `undefined`/`null` read as all fields missing.
pub(crate) fn options(obj: &JsValue, what: &str) -> Result<Reader, GlueError> {
    if obj.is_undefined() || obj.is_null() {
        return Ok(Box::new(|_: &str| Input::Missing));
    }
    if !obj.is_object() {
        return Err(GlueError::invalid(format!(
            "{what} must be an object, got {}",
            input(obj.clone()).kind()
        )));
    }
    let obj = obj.clone();
    Ok(Box::new(move |key: &str| {
        match Reflect::get(&obj, &JsValue::from_str(key)) {
            Ok(v) => input(v),
            Err(_) => Input::Other("a getter that threw"),
        }
    }))
}

/// The bytes of a `Uint8Array` argument.
pub(crate) fn bytes(v: &JsValue, what: &str) -> Result<Vec<u8>, GlueError> {
    v.dyn_ref::<Uint8Array>()
        .map(Uint8Array::to_vec)
        .ok_or_else(|| {
            GlueError::invalid(format!(
                "{what} must be a Uint8Array, got {}",
                input(v.clone()).kind()
            ))
        })
}

/// A `Uint8Array` argument as a reference, for the per-frame paths that copy straight into
/// the member's buffer.
pub(crate) fn frame<'a>(v: &'a JsValue, what: &str) -> Result<&'a Uint8Array, GlueError> {
    v.dyn_ref::<Uint8Array>().ok_or_else(|| {
        GlueError::invalid(format!(
            "{what} must be a Uint8Array, got {}",
            input(v.clone()).kind()
        ))
    })
}

/// An array of `Uint8Array`s.
pub(crate) fn byte_list(v: &JsValue, what: &str) -> Result<Vec<Vec<u8>>, GlueError> {
    if !Array::is_array(v) {
        return Err(GlueError::invalid(format!(
            "{what} must be an array of Uint8Array, got {}",
            input(v.clone()).kind()
        )));
    }
    Array::from(v)
        .iter()
        .enumerate()
        .map(|(i, x)| bytes(&x, &format!("{what}[{i}]")))
        .collect()
}
