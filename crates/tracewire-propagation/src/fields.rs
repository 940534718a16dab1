//! User-defined context fields that travel with the trace: a tenant id, a user id, a
//! feature flag.
//!
//! A field is a typed value with its own way onto the wire: a header of its own
//! ([`HeaderField`]) or a member of the W3C baggage ([`BaggageField`]), each with a
//! [`FieldCodec`]. Register fields on a [`Propagator`](crate::Propagator); on extract each one
//! lands in the OpenTelemetry `Context` as a value of its type (read it back with
//! `cx.get::<T>()`), on inject it is written back from the `Context`. Use a newtype per field:
//! the `Context` holds one value per type.
//!
//! ```
//! use http::HeaderMap;
//! use opentelemetry::Context;
//! use tracewire_propagation::Propagator;
//! use tracewire_propagation::fields::{BaggageField, HeaderField};
//!
//! #[derive(Debug, Clone, PartialEq)]
//! struct TenantId(String);
//! #[derive(Debug, Clone, PartialEq)]
//! struct Plan(String);
//!
//! let propagator = Propagator::new()
//!     .with_field(HeaderField::new("x-tenant-id", |s: &str| Some(TenantId(s.to_owned())), |t: &TenantId| Some(t.0.clone())))
//!     .with_field(BaggageField::new("plan", |s: &str| Some(Plan(s.to_owned())), |p: &Plan| Some(p.0.clone())));
//!
//! let mut incoming = HeaderMap::new();
//! incoming.insert("x-tenant-id", "acme".parse().unwrap());
//! incoming.insert("baggage", "plan=gold".parse().unwrap());
//! let cx = propagator.extract(&incoming).into_context(&Context::new());
//! assert_eq!(cx.get::<TenantId>(), Some(&TenantId("acme".into())));
//! assert_eq!(cx.get::<Plan>(), Some(&Plan("gold".into())));
//!
//! let mut outgoing = HeaderMap::new();
//! propagator.inject_context(&cx.with_value(Plan("platinum".into())), &mut outgoing);
//! assert_eq!(outgoing["x-tenant-id"], "acme");
//! assert_eq!(outgoing["baggage"], "plan=platinum");
//! ```

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use http::{HeaderName, HeaderValue};
use opentelemetry::Context;

use crate::baggage::{Baggage, BaggageLimits, Member};
use crate::carrier::{Carrier, CarrierMut};
use crate::traceparent::trim_ows;

/// Longest header value a [`HeaderField`] reads; longer ones are ignored.
pub const DEFAULT_MAX_LEN: usize = 1024;

/// Turns a field's value into text and back.
pub trait FieldCodec<T>: Send + Sync + 'static {
    /// Decodes the text read from the carrier; `None` ignores it.
    fn decode(&self, text: &str) -> Option<T>;
    /// Encodes the value for the carrier; `None` writes nothing.
    fn encode(&self, value: &T) -> Option<String>;
}

/// A codec through `FromStr` and `Display`.
#[derive(Clone, Copy, Debug, Default)]
pub struct FromStrCodec;

impl<T: FromStr + fmt::Display> FieldCodec<T> for FromStrCodec {
    fn decode(&self, text: &str) -> Option<T> {
        text.parse().ok()
    }

    fn encode(&self, value: &T) -> Option<String> {
        Some(value.to_string())
    }
}

/// A codec made of two closures, `decode` and `encode`.
#[derive(Clone, Copy)]
pub struct FnCodec<D, E> {
    decode: D,
    encode: E,
}

impl<T, D, E> FieldCodec<T> for FnCodec<D, E>
where
    D: Fn(&str) -> Option<T> + Send + Sync + 'static,
    E: Fn(&T) -> Option<String> + Send + Sync + 'static,
{
    fn decode(&self, text: &str) -> Option<T> {
        (self.decode)(text)
    }

    fn encode(&self, value: &T) -> Option<String> {
        (self.encode)(value)
    }
}

impl<D, E> fmt::Debug for FnCodec<D, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCodec")
            .field("decode", &std::any::type_name::<D>())
            .field("encode", &std::any::type_name::<E>())
            .finish()
    }
}

/// What a field reads from on extract.
pub struct FieldReader<'a> {
    carrier: &'a dyn Carrier,
    baggage: &'a Baggage,
}

impl fmt::Debug for FieldReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldReader")
            .field("baggage", &self.baggage)
            .finish_non_exhaustive()
    }
}

impl<'a> FieldReader<'a> {
    /// The first value of `name`, trimmed, if it is UTF-8.
    pub fn header(&self, name: &HeaderName) -> Option<&'a str> {
        self.carrier
            .first_value(name)
            .and_then(|v| std::str::from_utf8(trim_ows(v)).ok())
    }

    /// The incoming baggage.
    pub fn baggage(&self) -> &'a Baggage {
        self.baggage
    }
}

/// What a field writes to on inject.
pub struct FieldWriter<'a> {
    carrier: &'a mut dyn CarrierMut,
    baggage: &'a mut Baggage,
    limits: BaggageLimits,
}

impl FieldWriter<'_> {
    /// Sets a header.
    pub fn set_header(&mut self, name: &HeaderName, value: HeaderValue) {
        self.carrier.set_value(name, value);
    }

    /// Sets a baggage member, replacing any with the same key, within the propagator's limits.
    pub fn set_baggage(&mut self, member: Member) -> bool {
        self.baggage.insert(member, self.limits)
    }
}

impl fmt::Debug for FieldWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldWriter")
            .field("baggage", &self.baggage)
            .finish_non_exhaustive()
    }
}

/// A user-defined value that travels with the trace.
///
/// Implement it for your own wire formats; [`HeaderField`] and [`BaggageField`] cover the
/// common ones.
pub trait ContextField: Send + Sync + fmt::Debug + 'static {
    /// The value, stored in the `Context` under its type.
    type Value: Send + Sync + fmt::Debug + 'static;

    /// Reads the value on extract.
    fn extract(&self, reader: &FieldReader<'_>) -> Option<Self::Value>;

    /// Writes the value on inject.
    fn inject(&self, value: &Self::Value, writer: &mut FieldWriter<'_>);

    /// The header names this field writes, for `TextMapPropagator::fields`.
    fn header_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A field in its own header.
pub struct HeaderField<T, C = FromStrCodec> {
    name: HeaderName,
    codec: C,
    max_len: usize,
    _value: PhantomData<fn() -> T>,
}

impl<T> HeaderField<T, FromStrCodec>
where
    T: FromStr + fmt::Display,
{
    /// A field in header `name`, through `FromStr`/`Display`.
    ///
    /// # Panics
    /// When `name` is not a valid header name (a programming error, caught at start-up).
    pub fn parsed(name: &str) -> Self {
        Self::with_codec(name, FromStrCodec)
    }
}

impl<T, D, E> HeaderField<T, FnCodec<D, E>>
where
    D: Fn(&str) -> Option<T> + Send + Sync + 'static,
    E: Fn(&T) -> Option<String> + Send + Sync + 'static,
{
    /// A field in header `name`, with `decode` and `encode` closures.
    ///
    /// # Panics
    /// When `name` is not a valid header name (a programming error, caught at start-up).
    pub fn new(name: &str, decode: D, encode: E) -> Self {
        Self::with_codec(name, FnCodec { decode, encode })
    }
}

impl<T, C> HeaderField<T, C> {
    /// A field in header `name` with any codec.
    ///
    /// # Panics
    /// When `name` is not a valid header name (a programming error, caught at start-up).
    pub fn with_codec(name: &str, codec: C) -> Self {
        let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .unwrap_or_else(|_| panic!("{name:?} is not a valid header name"));
        Self {
            name,
            codec,
            max_len: DEFAULT_MAX_LEN,
            _value: PhantomData,
        }
    }

    /// Ignores incoming values longer than `max_len` bytes (default 1024).
    #[must_use]
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }
}

impl<T, C> fmt::Debug for HeaderField<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderField")
            .field("name", &self.name)
            .field("value", &std::any::type_name::<T>())
            .field("max_len", &self.max_len)
            .finish()
    }
}

impl<T, C> ContextField for HeaderField<T, C>
where
    T: Send + Sync + fmt::Debug + 'static,
    C: FieldCodec<T>,
{
    type Value = T;

    fn extract(&self, reader: &FieldReader<'_>) -> Option<T> {
        let text = reader.header(&self.name)?;
        if text.len() > self.max_len {
            return None;
        }
        self.codec.decode(text)
    }

    fn inject(&self, value: &T, writer: &mut FieldWriter<'_>) {
        if let Some(value) = self
            .codec
            .encode(value)
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            writer.set_header(&self.name, value);
        }
    }

    fn header_names(&self) -> Vec<String> {
        vec![self.name.as_str().to_owned()]
    }
}

/// A field carried as a member of the W3C baggage (it also stays in the baggage).
pub struct BaggageField<T, C = FromStrCodec> {
    key: String,
    codec: C,
    _value: PhantomData<fn() -> T>,
}

impl<T> BaggageField<T, FromStrCodec>
where
    T: FromStr + fmt::Display,
{
    /// A field in baggage member `key`, through `FromStr`/`Display`.
    pub fn parsed(key: &str) -> Self {
        Self::with_codec(key, FromStrCodec)
    }
}

impl<T, D, E> BaggageField<T, FnCodec<D, E>>
where
    D: Fn(&str) -> Option<T> + Send + Sync + 'static,
    E: Fn(&T) -> Option<String> + Send + Sync + 'static,
{
    /// A field in baggage member `key`, with `decode` and `encode` closures.
    pub fn new(key: &str, decode: D, encode: E) -> Self {
        Self::with_codec(key, FnCodec { decode, encode })
    }
}

impl<T, C> BaggageField<T, C> {
    /// A field in baggage member `key` with any codec.
    pub fn with_codec(key: &str, codec: C) -> Self {
        Self {
            key: key.to_owned(),
            codec,
            _value: PhantomData,
        }
    }
}

impl<T, C> fmt::Debug for BaggageField<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaggageField")
            .field("key", &self.key)
            .field("value", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T, C> ContextField for BaggageField<T, C>
where
    T: Send + Sync + fmt::Debug + 'static,
    C: FieldCodec<T>,
{
    type Value = T;

    fn extract(&self, reader: &FieldReader<'_>) -> Option<T> {
        self.codec.decode(reader.baggage().get(&self.key)?)
    }

    fn inject(&self, value: &T, writer: &mut FieldWriter<'_>) {
        if let Some(member) = self
            .codec
            .encode(value)
            .and_then(|v| Member::new(&self.key, &v, ""))
        {
            writer.set_baggage(member);
        }
    }
}

/// A field value read on extract, waiting to go into a `Context`.
pub(crate) trait FieldValue: Send + Sync + fmt::Debug {
    fn attach(self: Box<Self>, cx: Context) -> Context;
    fn as_any(&self) -> &dyn Any;
}

#[derive(Debug)]
struct Held<T>(T);

impl<T: Send + Sync + fmt::Debug + 'static> FieldValue for Held<T> {
    fn attach(self: Box<Self>, cx: Context) -> Context {
        cx.with_value(self.0)
    }

    fn as_any(&self) -> &dyn Any {
        &self.0
    }
}

/// A registered field with its value type erased.
pub(crate) trait ErasedField: Send + Sync + fmt::Debug {
    fn extract(&self, carrier: &dyn Carrier, baggage: &Baggage) -> Option<Box<dyn FieldValue>>;
    fn inject(
        &self,
        cx: &Context,
        carrier: &mut dyn CarrierMut,
        baggage: &mut Baggage,
        limits: BaggageLimits,
    );
    fn header_names(&self) -> Vec<String>;
}

impl<F: ContextField> ErasedField for F {
    fn extract(&self, carrier: &dyn Carrier, baggage: &Baggage) -> Option<Box<dyn FieldValue>> {
        let reader = FieldReader { carrier, baggage };
        ContextField::extract(self, &reader).map(|v| Box::new(Held(v)) as Box<dyn FieldValue>)
    }

    fn inject(
        &self,
        cx: &Context,
        carrier: &mut dyn CarrierMut,
        baggage: &mut Baggage,
        limits: BaggageLimits,
    ) {
        if let Some(value) = cx.get::<F::Value>() {
            let mut writer = FieldWriter {
                carrier,
                baggage,
                limits,
            };
            ContextField::inject(self, value, &mut writer);
        }
    }

    fn header_names(&self) -> Vec<String> {
        ContextField::header_names(self)
    }
}
