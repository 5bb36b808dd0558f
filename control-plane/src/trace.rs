//! The request a piece of work runs for: the HTTP layer scopes every request's handler in
//! its id (`frontegg-trace-id`), and work the request leaves behind (a queued message)
//! carries the id into the logs of whatever finishes it later.

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Run `f` as the work of request `id`.
pub async fn scoped<F: std::future::Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// The id of the request being served, if this is a request's work.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_id_is_seen_inside_its_scope_only() {
        assert_eq!(super::request_id(), None);
        let seen = super::scoped("r-1".into(), async { super::request_id() }).await;
        assert_eq!(seen.as_deref(), Some("r-1"));
        assert_eq!(super::request_id(), None);
    }
}
