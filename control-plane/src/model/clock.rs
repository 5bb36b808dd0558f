//! Time, injected: the real clock in production, a manual one in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// Seconds since the Unix epoch.
pub type UnixSecs = i64;

/// A clock. Cloning shares the same time source.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Seconds added to the system time (tests move time forward without sleeping).
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Move this clock (and every clone) forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::SeqCst);
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        #[allow(clippy::disallowed_methods)] // the one place the real clock is read
        let now = OffsetDateTime::from(std::time::SystemTime::now());
        now + time::Duration::seconds(self.offset.load(Ordering::SeqCst))
    }

    /// The current time in Unix seconds.
    pub fn unix(&self) -> UnixSecs {
        self.now().unix_timestamp()
    }
}

/// RFC 3339 of a Unix time (`None` when out of range).
pub fn rfc3339_of(secs: UnixSecs) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(secs).ok().map(rfc3339)
}

/// Unix seconds of an RFC 3339 time.
pub fn unix_of(rfc: &str) -> Option<UnixSecs> {
    OffsetDateTime::parse(rfc, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// RFC 3339 with second precision and a `Z` offset, as every DTO shows times.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
