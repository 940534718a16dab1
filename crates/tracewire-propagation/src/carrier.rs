//! Where propagated fields are read from and written to.
//!
//! [`Carrier`] reads every value of a header name; [`CarrierMut`] writes one. Both are
//! implemented for [`http::HeaderMap`], for tonic's `MetadataMap` (feature `tonic`) and, through
//! [`ExtractorCarrier`] and [`InjectorCarrier`], for any opentelemetry
//! [`Extractor`]/[`Injector`]. Implement them for other carriers (a message queue's headers,
//! say).
//!
//! Values that are not valid header values are skipped, never unwrapped.
//!
//! ```
//! use http::{HeaderMap, HeaderName};
//! use tracewire_propagation::carrier::Carrier;
//!
//! let mut headers = HeaderMap::new();
//! headers.append("tracestate", "a=1".parse().unwrap());
//! headers.append("tracestate", "b=2".parse().unwrap());
//! let name = HeaderName::from_static("tracestate");
//! let all: Vec<&[u8]> = headers.get_all_values(&name).collect();
//! assert_eq!(all, [&b"a=1"[..], &b"b=2"[..]]);
//! ```

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};

/// Every value of one header name, in order.
pub struct Values<'a>(ValuesInner<'a>);

enum ValuesInner<'a> {
    Header(http::header::ValueIter<'a, HeaderValue>),
    Strs(std::vec::IntoIter<&'a str>),
    Boxed(Box<dyn Iterator<Item = &'a [u8]> + 'a>),
}

impl<'a> Values<'a> {
    /// Values from a custom iterator, for carriers of your own.
    pub fn boxed<I: Iterator<Item = &'a [u8]> + 'a>(iter: I) -> Self {
        Self(ValuesInner::Boxed(Box::new(iter)))
    }

    /// No values.
    pub fn empty() -> Self {
        Self(ValuesInner::Strs(Vec::new().into_iter()))
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.0 {
            ValuesInner::Header(it) => it.next().map(HeaderValue::as_bytes),
            ValuesInner::Strs(it) => it.next().map(str::as_bytes),
            ValuesInner::Boxed(it) => it.next(),
        }
    }
}

impl fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values").finish_non_exhaustive()
    }
}

/// What [`Carrier::probe`] found for one name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probe<'a> {
    /// The first value, if the name is present.
    pub first: Option<&'a [u8]>,
    /// Whether the name has more than one value.
    pub repeated: bool,
}

/// Maps at or below this many values are scanned once instead of looked up once per name:
/// measured faster for up to about a dozen headers, slower beyond.
const SCAN_LIMIT: usize = 12;

/// A carrier that fields are read from.
pub trait Carrier {
    /// Every value of `name` (a lowercase header name), in order.
    fn get_all_values(&self, name: &HeaderName) -> Values<'_>;

    /// For each of `names`, the first value and whether there are more, written to `out`
    /// (same length as `names`). The default looks each name up; carriers that can answer in
    /// one pass override it.
    fn probe<'a>(&'a self, names: &[HeaderName], out: &mut [Probe<'a>]) {
        for (name, slot) in names.iter().zip(out.iter_mut()) {
            let mut values = self.get_all_values(name);
            slot.first = values.next();
            slot.repeated = values.next().is_some();
        }
    }

    /// Every distinct header name present, lowercase; used for prefixed fields such as
    /// Jaeger's `uberctx-*`.
    fn header_names(&self) -> Vec<&str>;

    /// The first value of `name`.
    fn first_value(&self, name: &HeaderName) -> Option<&[u8]> {
        self.get_all_values(name).next()
    }
}

/// A carrier that fields are written to.
pub trait CarrierMut {
    /// Sets `name` to `value`, replacing what was there.
    fn set_value(&mut self, name: &HeaderName, value: HeaderValue);
}

impl Carrier for HeaderMap {
    #[inline]
    fn get_all_values(&self, name: &HeaderName) -> Values<'_> {
        Values(ValuesInner::Header(self.get_all(name).iter()))
    }

    #[inline]
    fn probe<'a>(&'a self, names: &[HeaderName], out: &mut [Probe<'a>]) {
        if self.len() > SCAN_LIMIT {
            for (name, slot) in names.iter().zip(out.iter_mut()) {
                let mut values = self.get_all(name).iter();
                slot.first = values.next().map(HeaderValue::as_bytes);
                slot.repeated = values.next().is_some();
            }
            return;
        }
        for (name, value) in self {
            let name = name.as_str();
            for (wanted, slot) in names.iter().zip(out.iter_mut()) {
                let wanted = wanted.as_str();
                if name.len() == wanted.len() && name == wanted {
                    if slot.first.is_none() {
                        slot.first = Some(value.as_bytes());
                    } else {
                        slot.repeated = true;
                    }
                }
            }
        }
    }

    fn header_names(&self) -> Vec<&str> {
        self.keys().map(HeaderName::as_str).collect()
    }
}

impl CarrierMut for HeaderMap {
    #[inline]
    fn set_value(&mut self, name: &HeaderName, value: HeaderValue) {
        self.insert(name.clone(), value);
    }
}

impl<C: Carrier + ?Sized> Carrier for &C {
    fn get_all_values(&self, name: &HeaderName) -> Values<'_> {
        (**self).get_all_values(name)
    }

    fn probe<'a>(&'a self, names: &[HeaderName], out: &mut [Probe<'a>]) {
        (**self).probe(names, out);
    }

    fn header_names(&self) -> Vec<&str> {
        (**self).header_names()
    }
}

impl<C: CarrierMut + ?Sized> CarrierMut for &mut C {
    fn set_value(&mut self, name: &HeaderName, value: HeaderValue) {
        (**self).set_value(name, value);
    }
}

#[cfg(feature = "tonic")]
impl Carrier for tonic::metadata::MetadataMap {
    #[inline]
    fn get_all_values(&self, name: &HeaderName) -> Values<'_> {
        self.as_ref().get_all_values(name)
    }

    #[inline]
    fn probe<'a>(&'a self, names: &[HeaderName], out: &mut [Probe<'a>]) {
        self.as_ref().probe(names, out);
    }

    fn header_names(&self) -> Vec<&str> {
        self.as_ref().header_names()
    }
}

#[cfg(feature = "tonic")]
impl CarrierMut for tonic::metadata::MetadataMap {
    #[inline]
    fn set_value(&mut self, name: &HeaderName, value: HeaderValue) {
        self.as_mut().set_value(name, value);
    }
}

/// Reads from an opentelemetry [`Extractor`].
pub struct ExtractorCarrier<'a>(pub &'a dyn Extractor);

impl Carrier for ExtractorCarrier<'_> {
    fn get_all_values(&self, name: &HeaderName) -> Values<'_> {
        Values(ValuesInner::Strs(
            self.0
                .get_all(name.as_str())
                .unwrap_or_default()
                .into_iter(),
        ))
    }

    fn header_names(&self) -> Vec<&str> {
        self.0.keys()
    }
}

impl fmt::Debug for ExtractorCarrier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExtractorCarrier").finish_non_exhaustive()
    }
}

/// Writes to an opentelemetry [`Injector`].
pub struct InjectorCarrier<'a>(pub &'a mut dyn Injector);

impl CarrierMut for InjectorCarrier<'_> {
    fn set_value(&mut self, name: &HeaderName, value: HeaderValue) {
        if let Ok(value) = value.to_str() {
            self.0.set(name.as_str(), value.to_owned());
        }
    }
}

impl fmt::Debug for InjectorCarrier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InjectorCarrier").finish_non_exhaustive()
    }
}

/// Extracts from an [`http::HeaderMap`] through the opentelemetry [`Extractor`] interface,
/// reading every value of a name (the stock `opentelemetry-http` extractor reads only the
/// first).
#[derive(Debug)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let all: Vec<&str> = self
            .0
            .get_all(key)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!all.is_empty()).then_some(all)
    }
}

/// Injects into an [`http::HeaderMap`] through the opentelemetry [`Injector`] interface;
/// invalid names or values are skipped.
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extractor_adapter_reads_all_values() {
        let mut headers = HeaderMap::new();
        headers.append("baggage", HeaderValue::from_static("a=1"));
        headers.append("baggage", HeaderValue::from_static("b=2"));
        headers.append("baggage", HeaderValue::from_bytes(b"\xff").unwrap());
        let ex = HeaderExtractor(&headers);
        let carrier = ExtractorCarrier(&ex);
        let name = HeaderName::from_static("baggage");
        let all: Vec<_> = carrier.get_all_values(&name).collect();
        assert_eq!(all, [&b"a=1"[..], &b"b=2"[..]]);
        assert_eq!(carrier.header_names(), ["baggage"]);
    }

    #[test]
    fn injector_adapter_skips_invalid() {
        let mut headers = HeaderMap::new();
        let mut inj = HeaderInjector(&mut headers);
        inj.set("bad name", "v".into());
        inj.set("ok", "bad\nvalue".into());
        inj.set("ok", "good".into());
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["ok"], "good");
    }

    fn probe_both_ways(headers: &HeaderMap) -> [Probe<'_>; 3] {
        let names = [
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
            HeaderName::from_static("baggage"),
        ];
        let mut fast = [Probe::default(); 3];
        headers.probe(&names, &mut fast);
        // The trait's default, through the lookup path.
        let extractor = HeaderExtractor(headers);
        let carrier = ExtractorCarrier(&extractor);
        let mut slow = [Probe::default(); 3];
        carrier.probe(&names, &mut slow);
        assert_eq!(fast, slow);
        fast
    }

    #[test]
    fn probe_scans_small_maps_and_looks_up_in_large_ones() {
        for filler in [0, 5, SCAN_LIMIT, 40] {
            let mut headers = HeaderMap::new();
            for i in 0..filler {
                headers.insert(
                    HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap(),
                    HeaderValue::from_static("v"),
                );
            }
            headers.append("tracestate", HeaderValue::from_static("a=1"));
            headers.append("traceparent", HeaderValue::from_static("tp"));
            headers.append("tracestate", HeaderValue::from_static("b=2"));
            let [tp, ts, bag] = probe_both_ways(&headers);
            assert_eq!(
                tp,
                Probe {
                    first: Some(b"tp"),
                    repeated: false
                }
            );
            assert_eq!(
                ts,
                Probe {
                    first: Some(b"a=1"),
                    repeated: true
                }
            );
            assert_eq!(bag, Probe::default());
        }
    }

    #[test]
    fn custom_values() {
        let v: Vec<_> = Values::boxed([&b"x"[..]].into_iter()).collect();
        assert_eq!(v, [&b"x"[..]]);
        assert_eq!(Values::empty().count(), 0);
    }
}
