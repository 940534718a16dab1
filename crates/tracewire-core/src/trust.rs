//! What a receiver does with the context a caller sent.

/// What to do with an incoming trace context.
///
/// ```
/// use tracewire_core::TrustPolicy;
///
/// // A public edge: callers cannot force sampling (or turn it off).
/// let policy = TrustPolicy::OwnSampling;
/// assert_ne!(policy, TrustPolicy::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustPolicy {
    /// Continue the caller's trace and follow its sampling decision, including a B3 "deny"
    /// (`b3: 0`) sent without ids (the default, for internal services).
    #[default]
    Trust,
    /// Start a new trace, with a link to the caller's span: for a public edge whose callers
    /// are not part of your system.
    NewRoot,
    /// Continue the caller's trace ids but make our own sampling decision, so a caller cannot
    /// force sampling (or turn it off).
    OwnSampling,
}
