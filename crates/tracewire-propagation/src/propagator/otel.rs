//! opentelemetry's `TextMapPropagator`, over any `Extractor`/`Injector`.

use super::Propagator;
use http::{HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter,
};

use crate::carrier::{Carrier, CarrierMut, ExtractorCarrier};

/// A [`Carrier`] seen as an opentelemetry [`Extractor`], for custom formats.
pub(super) struct CarrierExtractor<'a, C: ?Sized>(pub(super) &'a C);

impl<C: Carrier + ?Sized> Extractor for CarrierExtractor<'_, C> {
    fn get(&self, key: &str) -> Option<&str> {
        let name = HeaderName::from_bytes(key.as_bytes()).ok()?;
        self.0
            .first_value(&name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.header_names()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let name = HeaderName::from_bytes(key.as_bytes()).ok()?;
        let all: Vec<&str> = self
            .0
            .get_all_values(&name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .collect();
        (!all.is_empty()).then_some(all)
    }
}

/// A [`CarrierMut`] seen as an opentelemetry [`Injector`], for custom formats.
pub(super) struct CarrierInjector<'a, C: ?Sized>(pub(super) &'a mut C);

impl<C: CarrierMut + ?Sized> Injector for CarrierInjector<'_, C> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.set_value(&name, value);
        }
    }
}

impl TextMapPropagator for Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let mut carrier = crate::carrier::InjectorCarrier(injector);
        Self::inject_context(self, cx, &mut carrier);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.extract(&ExtractorCarrier(extractor)).into_context(cx)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.inner.header_names)
    }
}
